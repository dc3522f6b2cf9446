package main

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestStartNamesEveryTakenAddress: a second project started on a running
// poold's endpoints, console and app port learned them one start at a
// time (the first that failed stopped the start), four edits and
// restarts. One start now names every address it cannot bind, each with
// its file, key and holder, and still exits 1 with no worker started and
// nothing left bound: the free control endpoint and metrics port it had
// are free again. poold --check, which binds nothing, warns of the same
// addresses.
func TestStartNamesEveryTakenAddress(t *testing.T) {
	t.Parallel()
	dirA := t.TempDir()
	webA, app := freeAddr(t), freeAddr(t)
	_, appPort, _ := net.SplitHostPort(app)
	pathA := writeConfig(t, dirA, "[arbiter]\nENDPOINTS\n[web]\nenabled = true\naddress = \""+webA+"\"\n"+
		"[sockets.app]\nhost = \"127.0.0.1\"\nport = "+appPort+"\n")
	a := launchCmd(t, exec.Command(realPoold(t), pathA), dirA, pathA, nil)
	a.waitLog("poold started", 1)
	// --check of the running poold's own file, before a reload: no
	// warning, since that poold holds them as it should.
	out, _, code := runBin(t, os.Environ(), "--check", pathA)
	want := pathA + ": note: pid " + strconv.Itoa(a.cmd.Process.Pid) + ", a poold running this file, holds its addresses; poolctl reloadconfig applies the file to it\n"
	if code != 0 || !strings.HasPrefix(out, want) || strings.Contains(out, "warning") {
		t.Errorf("--check of the running poold's file: exit %d\n%s\nwant 0 and %q", code, out, want)
	}

	dir := t.TempDir()
	metrics := freeAddr(t)
	mark := filepath.Join(dir, "mark")
	conf := "[arbiter]\nendpoint = \"ipc://" + dir + "/c.sock\"\npubsub_endpoint = \"ipc://" + dirA + "/e.sock\"\nstats_endpoint = \"ipc://" + dirA + "/s.sock\"\n" +
		"[web]\nenabled = true\naddress = \"" + webA + "\"\nmetrics_address = \"" + metrics + "\"\n" +
		"[sockets.app]\nhost = \"127.0.0.1\"\nport = " + appPort + "\n" +
		"[watchers.mark]\ncmd = \"/bin/sh\"\nargs = [\"-c\", \"touch " + mark + "; exec sleep 60\"]\nsockets = [\"app\"]\n"
	path := filepath.Join(dir, "poold.toml")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	holder := "pid " + strconv.Itoa(a.cmd.Process.Pid) + " ("
	checkHeld(t, path, holder, "arbiter.pubsub_endpoint: ipc://"+dirA+"/e.sock", "arbiter.stats_endpoint: ipc://"+dirA+"/s.sock",
		"web.address: "+webA, "sockets.app: "+app)
	_, stderr, code := runBin(t, os.Environ(), path)
	for _, want := range []string{
		"poold: 4 addresses of this config cannot be bound, so poold started nothing",
		"poold:   event stream: " + path + ": arbiter.pubsub_endpoint: bind ipc://" + dirA + "/e.sock: another poold is already listening there (" + holder,
		"poold:   stats stream: " + path + ": arbiter.stats_endpoint: bind ipc://" + dirA + "/s.sock: another poold is already listening there (" + holder,
		"poold:   web console: " + path + ": web.address: bind " + webA + ": address already in use (" + holder,
		"poold:   sockets: " + path + ": sockets.app: bind " + app + ": address already in use (" + holder,
		"poold:   (another poold on the same endpoints? give this config endpoints of its own",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q", want)
		}
	}
	if code != 1 || strings.Contains(stderr, "poold:   control endpoint") || strings.Contains(stderr, "poold:   metrics listener") || strings.Contains(stderr, "poold started: ") {
		t.Errorf("exit %d: want 1, naming only what cannot be bound, and no start", code)
	}
	if t.Failed() {
		t.Logf("stderr:\n%s", stderr)
	}
	if _, err := os.Stat(mark); err == nil {
		t.Error("a refused start started a worker")
	}
	if c, err := net.Dial("unix", dir+"/c.sock"); err == nil {
		c.Close()
		t.Error("the control endpoint the refused start bound still answers")
	}
	l, err := net.Listen("tcp", metrics)
	if err != nil {
		t.Fatalf("the metrics address the refused start tried is not free again: %v", err)
	}
	l.Close()
}

// checkHeld: poold --check on path, which binds nothing, warns of each of
// taken (key: address), held by holder, and of nothing else.
func checkHeld(t *testing.T, path, holder string, taken ...string) {
	t.Helper()
	out, stderr, code := runBin(t, os.Environ(), "--check", path)
	for _, w := range taken {
		if !strings.Contains(out, path+": warning: "+w+" is taken now ("+holder) {
			t.Errorf("--check does not warn %q is taken", w)
		}
	}
	if n := strings.Count(out, "is taken now"); code != 0 || n != len(taken) {
		t.Errorf("--check: exit %d, %d warnings: want 0 and %d", code, n, len(taken))
	}
	if t.Failed() {
		t.Logf("--check:\n%s%s", out, stderr)
	}
}
