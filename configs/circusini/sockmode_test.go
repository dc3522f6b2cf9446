package circusini

import "testing"

// TestUnixSocketModeAsCircus binds the unix sockets of a circus.ini with
// the real Circus and compares each file's mode with the one poold's
// translation gives it: without a umask circusd makes the file 0767
// (umask 8, decimal), so clients of another user (nginx) can connect; a
// translation that kept poold's 0660 refused them.
func TestUnixSocketModeAsCircus(t *testing.T) {
	const file = "testdata/unixsockets.ini"
	environ := testEnviron(t)
	var circus map[string]uint32
	runCircus(t, "testdata/circus_socket_modes.py", file, environ, &circus)
	cfg := translated(t, file, environ)
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
