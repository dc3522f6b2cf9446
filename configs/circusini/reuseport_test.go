package circusini

import (
	"strings"
	"testing"

	"github.com/poold/poold/configs/translate"
)

// TestReusePortNote (r59b net L1): so_reuseport was mapped to reuseport
// with no word that the two differ (circusd: one socket per worker) and
// that the port is then open to any other process of the user.
func TestReusePortNote(t *testing.T) {
	cfg, doc := strictINI(t, "[socket:web]\nhost = 127.0.0.1\nport = 0\nso_reuseport = true\n\n[watcher:w]\ncmd = /bin/sleep 100\nuse_sockets = True\n")
	if len(cfg.Sockets) != 1 || !cfg.Sockets[0].ReusePort {
		t.Fatalf("sockets %+v, want web with reuseport", cfg.Sockets)
	}
	for _, n := range doc.Notes {
		if n.Level == translate.Info && n.Key == "so_reuseport" && strings.Contains(n.Msg, "one SO_REUSEPORT socket that all workers share") && strings.Contains(n.Msg, "silently take a share") {
			return
		}
	}
	t.Errorf("no note on [socket:web] so_reuseport: %v", doc.Notes)
}
