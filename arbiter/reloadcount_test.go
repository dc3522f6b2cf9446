package arbiter

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/workertest"
)

// TestRolledBackReloadRestoresNumprocesses: a file that changes
// numprocesses together with a key whose new workers fail is rolled
// back as a whole. The rollback used to keep the new count, so the old
// workers ran at the rejected count, and a reload of the good file again
// (its numprocesses unchanged since it was last read) left it so.
func TestRolledBackReloadRestoresNumprocesses(t *testing.T) {
	web := testWatcher("web", "sleep", 3)
	cfg := &configs.Config{Watchers: []configs.Watcher{web}}
	next := *cfg
	h := start(t, cfg, Options{Load: func() (*configs.Config, error) { c := next; return &c, nil }})
	readyPids(t, h, "web", 3)
	count := func() string {
		opts := h.do("get", map[string]any{"name": "web", "keys": []any{"numprocesses"}})["options"].(Ordered).Values
		return fmt.Sprint(opts["numprocesses"], " workers ", len(h.do("list", map[string]any{"name": "web"})["pids"].([]int)))
	}

	bad := web
	bad.NumProcesses = 1
	bad.Env = []string{workertest.Env + "=crash"}
	bad.Readiness, bad.ReadyDelay = "delay", 5*time.Second // see below
	next.Watchers = []configs.Watcher{bad}
	r := h.a.Do(t.Context(), Request{ID: "bad", Command: "reloadconfig", Properties: map[string]any{"waiting": true}})
	if _, ok := r["rolled_back"].(map[string]any)["web"]; !ok {
		t.Fatalf("reload to a crashing worker: %v, want web rolled back", r)
	}
	if got := count(); got != "3 workers 3" {
		t.Errorf("after the rollback: numprocesses %s, want 3 workers 3 (the old section's)", got)
	}

	next.Watchers = []configs.Watcher{web}
	r = h.do("reloadconfig", map[string]any{"waiting": true})
	if got := count(); got != "3 workers 3" {
		t.Errorf("after a reload of the good file (%v): numprocesses %s, want 3 workers 3", r, got)
	}
}

// TestRevertedFileClearsRolledBackReason: once the file gives a watcher
// its running section again (the user reverted a change whose rollout
// was abandoned), the reload reports it unchanged and its status no
// longer carries the abandoned change's reason, which it used to keep
// until the next start or reload of the watcher.
func TestRevertedFileClearsRolledBackReason(t *testing.T) {
	web := testWatcher("web", "sleep", 2)
	cfg := &configs.Config{Watchers: []configs.Watcher{web}}
	next := *cfg
	h := start(t, cfg, Options{Load: func() (*configs.Config, error) { c := next; return &c, nil }})
	readyPids(t, h, "web", 2)
	bad := web
	bad.Env = []string{workertest.Env + "=crash"}
	// Ready only after a delay it never lives: with readiness spawn, a
	// race-built worker slow to start under load could be seen asleep in
	// its runtime's start-up, count as ready, and crash after the reload
	// was done (a CI run, in this test).
	bad.Readiness, bad.ReadyDelay = "delay", 5*time.Second
	next.Watchers = []configs.Watcher{bad}
	r := h.a.Do(t.Context(), Request{ID: "bad", Command: "reloadconfig", Properties: map[string]any{"waiting": true}})
	if _, ok := r["rolled_back"].(map[string]any)["web"]; !ok {
		t.Fatalf("reload to a crashing worker: %v, want web rolled back", r)
	}
	if st := h.do("status", map[string]any{"name": "web"}); !strings.Contains(fmt.Sprint(st["reason"]), "abandoned") {
		t.Fatalf("status after the rollback: %v, want the reason", st)
	}
	next.Watchers = []configs.Watcher{web}
	r = h.do("reloadconfig", map[string]any{"waiting": true})
	if fmt.Sprint(r["unchanged"]) != "[web]" {
		t.Fatalf("reload of the reverted file: %v, want web unchanged", r)
	}
	if st := h.do("status", map[string]any{"name": "web"}); st["reason"] != nil && st["reason"] != "" {
		t.Errorf("status after the file was reverted: %v, want no reason", st)
	}
}
