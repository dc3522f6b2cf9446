package arbiter

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher/proctest"
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
	neverTwo(t, h, live, 2)
}

// After a rolling reload the singleton runs in wid 2, and its next
// replacement was started at once in the free wid 1, beside the old one
// still stopping (r50b review: 3 s of two schedulers). Since r59 the
// reload itself stops the old worker first as well.
func TestSingletonStopsFirstAfterAReload(t *testing.T) {
	w := stubbornOn("cron", "s", 1) // ignores TERM: killed after graceful_timeout
	w.Singleton = true
	w.GracefulTimeout = 200 * time.Millisecond
	w.MaxAge = time.Second
	h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("s")}, Watchers: []configs.Watcher{w}}, Options{})
	live := map[int]bool{h.spawned(): true}
	h.serving("s")
	reply := doAsync(h, "reload", map[string]any{"name": "cron", "waiting": true})
	neverTwo(t, h, live, 1) // the reload stops the old one first too
	if r := <-reply; r["status"] != "ok" {
		t.Fatalf("reload replied %v", r)
	}
	neverTwo(t, h, live, 2)
}

// neverTwo follows spawn and exit events for cycles spawns, failing at a
// spawn while another of live runs.
func neverTwo(t *testing.T, h *harness, live map[int]bool, cycles int) {
	t.Helper()
	for cycles > 0 {
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
		cycles--
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

// While a worker max_age stopped (respawn off) drains, its watcher's
// reason had a blank where the cause goes: "wid 1  and respawn is off"
// (r50b review).
func TestMaxAgeWithoutRespawnSaysSoWhileStopping(t *testing.T) {
	w := stubbornOn("once", "s", 1) // ignores TERM: stops at graceful_timeout
	w.Respawn = false
	w.MaxAge = 300 * time.Millisecond
	w.GracefulTimeout = 3 * time.Second
	h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("s")}, Watchers: []configs.Watcher{w}}, Options{})
	pid := h.spawned()
	h.next(string(events.KindKill), nil)
	r := h.do("status", map[string]any{"name": "once"})
	if reason, _ := r["reason"].(string); !strings.Contains(reason, "wid 1 reached max_age and is stopping") || !proctest.Alive(pid) {
		t.Errorf("while pid %d stops (alive: %v): reason %q, want it to say wid 1 reached max_age and is stopping", pid, proctest.Alive(pid), reason)
	}
}

// A reload of an active watcher left the slots whose workers had ended
// with respawn off (no_respawn_exit_codes, max_age) empty, while the
// README says such a slot waits for a start, restart or reload, and
// circusd's graceful reload spawns numprocesses workers (r50b review).
func TestReloadRefillsSlotsEndedWithRespawnOff(t *testing.T) {
	w := testWatcher("jobs", "sleep", 2)
	w.NoRespawnExitCodes = []int{0}
	h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{})
	h.spawns(2)
	count := func() int { return len(h.do("list", map[string]any{"name": "jobs"})["pids"].([]int)) }
	pids := h.do("list", map[string]any{"name": "jobs"})["pids"].([]int)
	proctest.Eventually(t, "the workers ready", func() bool {
		r := h.do("status", map[string]any{"name": "jobs"})
		return r["status"] == "active"
	})
	if err := syscall.Kill(pids[0], syscall.SIGTERM); err != nil { // exits 0
		t.Fatal(err)
	}
	h.next(string(events.KindExit), nil)
	proctest.Eventually(t, "one worker left, its slot empty", func() bool { return count() == 1 })
	h.do("reload", map[string]any{"name": "jobs", "waiting": true})
	proctest.Eventually(t, "the reload starting both workers", func() bool { return count() == 2 })
}
