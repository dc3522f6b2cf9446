package arbiter

import (
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
)

// TestSingletonMaxAgeNeverRunsTwo: a singleton recycled by max_age had
// its replacement started first, the rolling way, so two instances of a
// program that must run once (a scheduler, a queue consumer holding a
// lock) ran side by side until the new one was ready. circusd kills the
// expired worker, then spawns. The old one must be gone before the new
// one starts.
func TestSingletonMaxAgeNeverRunsTwo(t *testing.T) {
	w := testWatcher("cron", "sleep", 1)
	w.Singleton = true
	w.MaxAge = 300 * time.Millisecond
	h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{})
	live := map[int]bool{h.spawned(): true}
	for cycles := 0; cycles < 2; {
		ev := h.next("", func(ev events.Event) bool {
			return ev.Kind == events.KindSpawn || ev.Kind == events.KindExit
		})
		pid := ev.Fields["process_pid"].(int)
		if ev.Kind == events.KindExit {
			delete(live, pid)
			continue
		}
		if len(live) != 0 {
			t.Fatalf("singleton spawned pid %d while pid(s) %v still ran", pid, live)
		}
		live[pid] = true
		cycles++
	}
}

// TestMaxAgeWithoutRespawnEndsTheWorker: with respawn = false, circusd's
// max_age kills the worker and starts none, so the watcher stops once
// its workers have aged out. poold replaced the worker every max_age,
// which respawn = false asks it never to do.
func TestMaxAgeWithoutRespawnEndsTheWorker(t *testing.T) {
	w := testWatcher("once", "sleep", 1)
	w.Respawn = false
	w.MaxAge = 300 * time.Millisecond
	h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{})
	h.spawned()
	ev := h.next("", func(ev events.Event) bool {
		return ev.Kind == events.KindSpawn || ev.Kind == events.KindStop
	})
	if ev.Kind != events.KindStop {
		t.Fatalf("after max_age: %s %v, want the watcher stopped with no new worker", ev.Kind, ev.Fields)
	}
	r := h.do("status", map[string]any{"name": "once"})
	if reason, _ := r["reason"].(string); r["status"] != "stopped" || !strings.Contains(reason, "max_age") {
		t.Errorf("status %v, want stopped saying max_age", r)
	}
}
