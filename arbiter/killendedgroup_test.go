package arbiter

import (
	"sync"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"golang.org/x/sys/unix"
)

// holdScans makes every worker end that asks for a scan of poold's
// children (strayscan.go) wait, as behind a scan that a loaded host
// makes slow; release lets them go on.
func holdScans(t testing.TB, sc *strayScans) (release func()) {
	t.Helper()
	sc.mu.Lock()
	if sc.cond.L == nil {
		sc.cond.L = &sc.mu
	}
	sc.running = true
	sc.started++
	gen := sc.started
	sc.mu.Unlock()
	var once sync.Once
	release = func() {
		once.Do(func() {
			sc.mu.Lock()
			sc.list, sc.done, sc.running = nil, gen, false
			sc.cond.Broadcast()
			sc.mu.Unlock()
		})
	}
	t.Cleanup(release)
	return release
}

// TestGraceOverAfterTheWorkerEndedKillsNothingWithoutCgroups: on the
// process-group path, a worker that ended of its SIGTERM at once, but
// whose exit was still being handled when its graceful_timeout ran out
// (its end waiting for a scan of poold's children, as the ends of a stop
// of 5,000 workers at load 50 do), was logged "stop not over within
// graceful_timeout", SIGKILLed, and had what it left counted with a pass
// over all of /proc, on the loop: 3,744 of 5,000 in one stop, 672,062
// openat calls.
func TestGraceOverAfterTheWorkerEndedKillsNothingWithoutCgroups(t *testing.T) {
	w := testWatcher("web", "serve", 1)
	w.Sockets = []string{"web"}
	w.GracefulTimeout = 3 * time.Second // long enough for the worker to end of its SIGTERM on a loaded host
	t.Cleanup(func() {                  // after the arbiter has stopped: the test process stays no subreaper
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0); err != nil {
			t.Errorf("stop being a subreaper: %v", err)
		}
	})
	h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{w}},
		Options{NoCgroups: true, ReapOrphans: true})
	if !h.a.watchStrays() {
		t.Fatalf("poold does not look for strays here (ReapOrphans %v, foreign /proc %v): the test needs the end's scan to hold it", h.a.opts.ReapOrphans, h.a.foreignProc)
	}
	pid := h.spawned()
	h.serving("web")
	release := holdScans(t, &h.a.strayScans)
	walks := groupWalks.Load()
	stopGraceOverAfterEnd(t, h, "web", pid, release)
	if n := groupWalks.Load() - walks; n != 0 {
		t.Errorf("the end of a worker whose process group had ended made %d passes over /proc, want 0", n)
	}
}
