package circusini

import (
	"testing"
)

// TestBlockingAsCircus: circusd binds a socket non-blocking unless
// blocking = true. The translator dropped the key with a note, and
// poold's blocking socket left a Circus worker that accepts after select
// asleep in accept when another took the connection.
func TestBlockingAsCircus(t *testing.T) {
	cfg, _ := strictINI(t, "[socket:plain]\nport = 0\n\n[socket:on]\nport = 0\nblocking = True\n\n[socket:off]\npath = /tmp/poold-blocking-off.sock\nblocking = false\n\n"+
		"[watcher:w]\ncmd = /bin/sleep 100\nuse_sockets = True\n")
	want := map[string]bool{"plain": true, "on": false, "off": true}
	if len(cfg.Sockets) != len(want) {
		t.Fatalf("sockets %+v, want %d", cfg.Sockets, len(want))
	}
	for _, s := range cfg.Sockets {
		if s.NonBlocking != want[s.Name] {
			t.Errorf("socket %s: non-blocking %t, want %t as circusd", s.Name, s.NonBlocking, want[s.Name])
		}
	}
}
