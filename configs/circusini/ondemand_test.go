package circusini

import (
	"strings"
	"testing"

	"github.com/poold/poold/configs/translate"
)

// TestOnDemandIsMapped: Circus's on_demand on a watcher with sockets is
// poold's on_demand (no worker until a connection waits); it used to be
// a warning that the workers start at once, from before poold had
// elastic pools. Without use_sockets poold has no socket to wake it on:
// a warning, and the workers start at once.
func TestOnDemandIsMapped(t *testing.T) {
	_, doc := translateINI(t, "[socket:web]\nhost = 127.0.0.1\nport = 0\n\n[watcher:lazy]\ncmd = /bin/sleep 100\nnumprocesses = 2\nuse_sockets = true\non_demand = true\n\n[watcher:plain]\ncmd = /bin/sleep 100\non_demand = true\n")
	cfg, err := doc.Config(false)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, w := range cfg.Watchers {
		got[w.Name] = w.OnDemand
		if w.Name == "lazy" && (w.NumProcesses != 2 || !w.Elastic()) {
			t.Errorf("lazy: numprocesses %d, elastic %v; want 2, elastic", w.NumProcesses, w.Elastic())
		}
	}
	if !got["lazy"] || got["plain"] {
		t.Errorf("on_demand: %v; want lazy on demand, plain not", got)
	}
	var warned bool
	for _, n := range doc.Notes {
		if n.Section == "watcher:plain" && n.Key == "on_demand" {
			warned = n.Level == translate.Warn && strings.Contains(n.Msg, "use_sockets")
		}
	}
	if !warned {
		t.Errorf("no warning on [watcher:plain] on_demand naming use_sockets: %v", doc.Notes)
	}
}
