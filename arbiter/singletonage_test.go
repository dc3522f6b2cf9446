package arbiter

import (
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
