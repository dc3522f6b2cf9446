package arbiter

import (
	"testing"

	"github.com/poold/poold/configs"
)

// TestIncrLeavesAStoppedWatcherStopped: incr of a stopped watcher started
// it, where circusd only changes numprocesses (its manage_processes does
// nothing for a stopped watcher). A pool stopped for maintenance came back
// because a script scaled it. set numprocesses already left it stopped.
func TestIncrLeavesAStoppedWatcherStopped(t *testing.T) {
	h := start(t, &configs.Config{Watchers: []configs.Watcher{testWatcher("web", "sleep", 1)}}, Options{})
	h.spawns(1)
	h.do("stop", map[string]any{"name": "web", "waiting": true})
	if r := h.do("incr", map[string]any{"name": "web", "waiting": true}); r["numprocesses"] != 2 {
		t.Errorf("incr reply: %v", r)
	}
	if r := h.do("status", map[string]any{"name": "web"}); r["status"] != "stopped" {
		t.Errorf("status after incr of a stopped watcher: %v", r)
	}
	if l := h.do("list", map[string]any{"name": "web"}); len(l["pids"].([]int)) != 0 {
		t.Errorf("workers after incr of a stopped watcher: %v", l)
	}
	h.do("start", map[string]any{"name": "web", "waiting": true})
	if l := h.do("list", map[string]any{"name": "web"}); len(l["pids"].([]int)) != 2 {
		t.Errorf("workers after the start: %v, want the 2 incr asked for", l)
	}
}
