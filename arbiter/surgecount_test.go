package arbiter

import (
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
)

// TestSequentialReloadAfterFullSurgeRunsOneExtra: max_surge bounds the
// workers a rollout runs beside numprocesses, draining ones included.
// After a default (100 %) reload the workers hold wids 4..6, and a
// --sequential reload started all three new workers at once: 6 ran
// where 4 were allowed (r61 longconn trial; fill bounded wids, not
// workers). The old workers ignore SIGTERM, so each drains until its
// graceful_timeout, and the next new worker waits for that.
func TestSequentialReloadAfterFullSurgeRunsOneExtra(t *testing.T) {
	const n = 3
	w := stubbornOn("stub", "s", n)
	w.GracefulTimeout = 300 * time.Millisecond
	h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("s")}, Watchers: []configs.Watcher{w}}, Options{})
	h.spawns(n)
	h.do("reload", map[string]any{"name": "stub", "waiting": true}) // 100 %: wids 4..6
	live := map[int]bool{}
	for _, pid := range h.do("list", map[string]any{"name": "stub"})["pids"].([]int) {
		live[pid] = true
	}
	old := len(live)
	reply := doAsync(h, "reload", map[string]any{"name": "stub", "sequential": true, "waiting": true})
	// Every spawn and exit from now on; those of the first reload still
	// queued change nothing (set semantics: its workers are listed).
	peak, spawned, gone := len(live), 0, 0
	for spawned < n || gone < old {
		ev := h.next("", func(ev events.Event) bool {
			return ev.Kind == events.KindSpawn || ev.Kind == events.KindExit
		})
		pid := ev.Fields["process_pid"].(int)
		if ev.Kind == events.KindExit {
			if live[pid] {
				delete(live, pid)
				gone++
			}
			continue
		}
		if !live[pid] {
			live[pid] = true
			spawned++
		}
		if peak = max(peak, len(live)); peak > n+1 {
			t.Fatalf("%d workers ran at once (pids %v) during a --sequential reload of %d, want at most %d", peak, live, n, n+1)
		}
	}
	select {
	case r := <-reply:
		if r["status"] != "ok" {
			t.Fatalf("reload --sequential replied %v", r)
		}
	case <-time.After(hang):
		t.Fatalf("reload --sequential not answered within %v", hang)
	}
}
