package web

import "testing"

// TestConsoleShowsPooldsWord: since r65 poold's status reply gives
// Circus's word in status (statuses) and its own in state (states); the
// console keeps showing poold's (flapping, failed), which its cards and
// the fleet view colour, and a circusd's status where that is all.
func TestConsoleShowsPooldsWord(t *testing.T) {
	t.Parallel()
	var w watcherView
	w.setStatus(map[string]any{"status": "active", "state": "flapping", "reason": "wid 1 is flapping"})
	if w.Status != "flapping" {
		t.Errorf("status NAME of a crash loop: console shows %q, want flapping", w.Status)
	}
	w.setStatus(map[string]any{"status": "active"}) // circusd
	if w.Status != "active" {
		t.Errorf("status NAME from circusd: console shows %q, want active", w.Status)
	}
	all := statesOf(map[string]any{"statuses": map[string]any{"a": "stopped", "b": "active", "c": "active"},
		"states": map[string]any{"a": "failed", "b": "flapping"}})
	if all["a"] != "failed" || all["b"] != "flapping" || all["c"] != "active" || len(all) != 3 {
		t.Errorf("status of all: console shows %v, want a failed, b flapping, c active", all)
	}
}
