package arbiter

import (
	"context"
	"strings"
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

// TestSingletonKeepsItsCount: Circus's singleton = true became
// max_processes = 1, so decr took the pool to 0 and incr failed; circusd
// leaves a singleton's count as it is and answers with singleton: true
// (circusctl prints "This watcher is a Singleton - not changing the
// number of processes").
func TestSingletonKeepsItsCount(t *testing.T) {
	w := testWatcher("cron", "sleep", 1)
	w.Singleton = true
	h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{})
	h.spawns(1)
	for _, cmd := range []string{"decr", "incr"} {
		if r := h.do(cmd, map[string]any{"name": "cron", "waiting": true}); r["numprocesses"] != 1 || r["singleton"] != true {
			t.Errorf("%s of a singleton: %v, want numprocesses 1 and singleton true", cmd, r)
		}
	}
	if l := h.do("list", map[string]any{"name": "cron"}); len(l["pids"].([]int)) != 1 {
		t.Errorf("a singleton's workers after incr and decr: %v", l)
	}
	r := h.a.Do(context.Background(), Request{ID: "x", Command: "set", Properties: map[string]any{"name": "cron", "options": map[string]any{"numprocesses": 2}}})
	if reason, _ := r["reason"].(string); r["status"] != "error" || !strings.Contains(reason, "singleton") {
		t.Errorf("set numprocesses 2 of a singleton: %v", r)
	}
}
