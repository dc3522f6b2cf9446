package web

import (
	"testing"

	"github.com/poold/poold/configs"
)

const failReason = "2 slots gave up: worker exited with status 3 within 1s of start, 5 times in 10s"

// failedSlots is what poold's status reports for a watcher with one slot
// given up, one in backoff and one running.
func failedSlots(pid int) []map[string]any {
	return []map[string]any{
		{"wid": 1, "state": "running", "pid": pid, "restarts": 0, "last_exit": "", "retry_at": 0},
		{"wid": 2, "state": "failed", "pid": 0, "restarts": 5, "last_exit": "exited with status 3", "retry_at": 0},
		{"wid": 3, "state": "backoff", "pid": 0, "restarts": 2, "last_exit": "killed by signal KILL", "retry_at": 1e10},
	}
}

// wantFailed checks the view of a failed watcher: its reason and slots.
func wantFailed(t *testing.T, w map[string]any) {
	t.Helper()
	if w["status"] != "failed" || w["reason"] != failReason {
		t.Errorf("status %v, reason %v", w["status"], w["reason"])
	}
	slots := asSlice(w["slots"])
	if len(slots) != 3 || slots[1].(map[string]any)["last_exit"] != "exited with status 3" {
		t.Errorf("slots %v", slots)
	}
}

func TestFailedWatcherCarriesReasonAndSlots(t *testing.T) {
	t.Parallel()
	fake := newFakeBackend(t, map[string]int{"web": 1, "worker": 1})
	ts := startServer(t, fake, configs.Web{}, nil)
	c := dialConsole(t, ts)
	c.next("loaded", func(m map[string]any) bool { return watcherIn(m, "worker") != nil })

	// Live: the failed event makes the console refresh the watcher.
	fake.Fail("worker", failReason, failedSlots(fake.Pids("worker")[1]))
	w := watcherIn(c.next("failed worker", func(m map[string]any) bool {
		w := watcherIn(m, "worker")
		return w != nil && w["status"] == "failed"
	}), "worker")
	wantFailed(t, w)

	// A console that connects now starts from a whole-state load, which
	// reads reasons and slots too.
	ts2 := startServer(t, fake, configs.Web{}, nil)
	c2 := dialConsole(t, ts2)
	m := c2.next("loaded", func(m map[string]any) bool { return watcherIn(m, "worker") != nil })
	wantFailed(t, watcherIn(m, "worker"))
	// A Circus-shaped watcher has neither.
	if web := watcherIn(m, "web"); web["reason"] != nil || web["slots"] != nil {
		t.Errorf("web without reason and slots: %v", web)
	}
}

// A worker replaced for a limit or a failed health check starts in
// another wid: the console gets status NAME's restart tally (total, by
// reason, the last one) to show it, live and in a new console's load.
func TestConsoleCarriesTheRestartTally(t *testing.T) {
	t.Parallel()
	fake := newFakeBackend(t, map[string]int{"web": 1})
	ts := startServer(t, fake, configs.Web{}, nil)
	c := dialConsole(t, ts)
	c.next("loaded", func(m map[string]any) bool { return watcherIn(m, "web") != nil })
	fake.Restarted("web", map[string]any{"total": 2, "by_reason": map[string]any{"limit": 2},
		"last": map[string]any{"time": 1.7e9, "reason": "limit", "wid": 2, "pid": 1748, "why": "rss over max_rss"}})
	want := func(w map[string]any) bool {
		rs, _ := w["restarts"].(map[string]any)
		by, _ := rs["by_reason"].(map[string]any)
		return rs["total"] == 2.0 && by["limit"] == 2.0
	}
	c.next("the restart tally", func(m map[string]any) bool {
		w := watcherIn(m, "web")
		return w != nil && want(w)
	})
	c2 := dialConsole(t, startServer(t, fake, configs.Web{}, nil))
	if w := watcherIn(c2.next("loaded", func(m map[string]any) bool { return watcherIn(m, "web") != nil }), "web"); !want(w) {
		t.Errorf("a new console's load has restarts %v, want the tally", w["restarts"])
	}
}
