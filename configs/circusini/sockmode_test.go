package circusini

import (
	"encoding/json"
	"errors"
	"os/exec"
	"testing"

	"github.com/poold/poold/configs"
)

// TestUnixSocketModeAsCircus binds the unix sockets of a circus.ini with
// the real Circus and compares each file's mode with the one poold's
// translation gives it: without a umask circusd makes the file 0767
// (umask 8, decimal), so clients of another user (nginx) can connect; a
// translation that kept poold's 0660 refused them.
func TestUnixSocketModeAsCircus(t *testing.T) {
	src := circusPeer(t)
	const file = "testdata/unixsockets.ini"
	environ := testEnviron(t)
	cmd := exec.Command("/usr/bin/python3", "testdata/circus_socket_modes.py", file)
	cmd.Env = append(environ, "PYTHONPATH="+src)
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("circus sockets of %s: %v\n%s", file, err, ee.Stderr)
		}
		t.Fatal(err)
	}
	var circus map[string]uint32
	if err := json.Unmarshal(out, &circus); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	doc, err := Translate(file, environ)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := configs.FromTree(file, doc.Tree())
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Sockets) != len(circus) || len(circus) != 3 {
		t.Fatalf("poold has %d sockets, Circus bound %v", len(cfg.Sockets), circus)
	}
	for _, s := range cfg.Sockets {
		want, ok := circus[s.Name]
		if !ok {
			t.Errorf("socket %s: Circus did not bind it", s.Name)
			continue
		}
		if got := uint32(s.Mode.Perm()); got != want {
			t.Errorf("socket %s: poold mode %04o, circusd made the file %04o", s.Name, got, want)
		}
	}
}
