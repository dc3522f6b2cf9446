package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/poold/poold/watcher/proctest"
)

// A start refused because another program holds two of poold's
// endpoints named that program, then asked "another poold on the same
// endpoints?": no sign of one. The hint stays for a holder that is a
// poold, or unknown (TestStartNamesEveryTakenAddress).
func TestStartAsksOfAnotherPooldOnlyWhenTheHolderMayBeOne(t *testing.T) {
	py := proctest.Tool(t, "/usr/bin/python3", "python3")
	pubsub, web := freeAddr(t), freeAddr(t)
	hold := exec.Command(py, "-c", `import socket, sys
ss = []
for a in sys.argv[1:]:
    h, p = a.rsplit(":", 1)
    s = socket.socket(); s.bind((h, int(p))); s.listen(); ss.append(s)
print("ready", flush=True)
sys.stdin.read()`, pubsub, web)
	in, err := hold.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := hold.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := hold.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close(); _ = hold.Process.Kill(); _ = hold.Wait() })
	if l, _ := bufio.NewReader(out).ReadString('\n'); l != "ready\n" {
		t.Fatalf("the holder did not bind: %q", l)
	}
	dir := t.TempDir()
	conf := "[arbiter]\nendpoint = \"ipc://" + dir + "/c.sock\"\npubsub_endpoint = \"tcp://" + pubsub + "\"\nstats_endpoint = \"ipc://" + dir + "/s.sock\"\n" +
		"[web]\nenabled = true\naddress = \"" + web + "\"\n"
	path := filepath.Join(dir, "poold.toml")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := runBin(t, os.Environ(), path)
	holder := "pid " + strconv.Itoa(hold.Process.Pid) + " ("
	if code != 1 || strings.Count(stderr, holder) != 2 || !strings.Contains(stderr, "2 addresses of this config cannot be bound") {
		t.Fatalf("exit %d, want 1, naming %s as the holder of both addresses:\n%s", code, holder, stderr)
	}
	if strings.Contains(stderr, "another poold on the same endpoints?") {
		t.Errorf("the start asks of another poold, having named the holder, a python3:\n%s", stderr)
	}
}
