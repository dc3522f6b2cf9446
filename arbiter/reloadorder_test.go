package arbiter

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/proctest"
)

// TestOverlappingReloadsApplyInOrder: a reload asked for while an
// earlier one still reads its file applies what the file says once both
// are done. Two SIGHUPs (or a SIGHUP and a reloadconfig) used to read the
// file side by side, and the one whose read took longer (a slow check of
// many changed watchers, a socket host name waiting on DNS) was applied
// last: poold ran the older file, reporting both reloads done.
func TestOverlappingReloadsApplyInOrder(t *testing.T) {
	web := testWatcher("web", "sleep", 1)
	cfg := &configs.Config{Arbiter: configs.DefaultArbiter(), Watchers: []configs.Watcher{web}}
	older, newer := web, web
	older.NumProcesses, newer.NumProcesses = 3, 2
	var h *harness
	var loads atomic.Int32
	entered, release := make(chan struct{}), make(chan struct{})
	numprocesses := func() string {
		return fmt.Sprint(h.do("get", map[string]any{"name": "web", "keys": []any{"numprocesses"}})["options"].(Ordered).Values["numprocesses"])
	}
	load := func() (*configs.Config, error) {
		if loads.Add(1) > 1 {
			return &configs.Config{Arbiter: cfg.Arbiter, Watchers: []configs.Watcher{newer}}, nil
		}
		close(entered)
		<-release
		return &configs.Config{Arbiter: cfg.Arbiter, Watchers: []configs.Watcher{older}}, nil
	}
	h = start(t, cfg, Options{Load: load})
	readyPids(t, h, "web", 1)

	first := make(chan Reply, 1)
	go func() { first <- h.do("reloadconfig", map[string]any{"waiting": true}) }()
	<-entered
	// Not waited: its reply comes once the loop has taken the request,
	// which waits for the first read rather than read beside it (and,
	// applied before the first one, end up overwritten by the older
	// file).
	h.do("reloadconfig", nil)
	if queued := onLoop(t, h.a, func() any { return len(h.a.reading.queued) }).(int); queued != 1 || loads.Load() != 1 {
		t.Errorf("a reload asked for during another's read: %d queued, %d reads of the file; want it queued, unread", queued, loads.Load())
	}
	close(release)
	r := <-first
	proctest.Eventually(t, fmt.Sprintf("numprocesses 2, the file as the later reload read it (first reload: %v)", r), func() bool {
		return numprocesses() == "2"
	})
}
