package arbiter

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/proctest"
)

// TestStuckConfigReadNeitherQueuesNorHoldsTheExit: a reload whose read
// of the config never returned (a FIFO, a hung mount) had every later
// reload queue behind it for ever, and poold's stop wait for it: the
// workers stopped, the process never exited. A read stuck longer than
// readStuckAfter now has its reload and those queued answered with what
// is stuck, a reload asked for meanwhile is answered at once, one that
// returns late changes nothing and lets the next reload read, and the
// stop abandons a stuck read.
func TestStuckConfigReadNeitherQueuesNorHoldsTheExit(t *testing.T) {
	was := readStuckAfter
	readStuckAfter = 2 * time.Second
	t.Cleanup(func() { readStuckAfter = was })
	// A path of its own: the cgroup tree's name and lock follow the
	// config's path, and a fixed one clashed with the same test of a
	// suite running beside it ("in use by another poold").
	path := filepath.Join(t.TempDir(), "hung.toml")
	cfg := &configs.Config{Path: path, Watchers: []configs.Watcher{testWatcher("w", "sleep", 1)}}
	rel1, rel3 := make(chan struct{}), make(chan struct{})
	var mu sync.Mutex
	calls := 0
	load := func() (*configs.Config, error) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		switch n {
		case 1:
			<-rel1
		case 3:
			<-rel3
		}
		c := *cfg
		c.Arbiter = configs.DefaultArbiter()
		return &c, nil
	}
	var h *harness
	// Runs after the harness's cleanup, which fails the test unless Run
	// returns while the third read is still blocked.
	t.Cleanup(func() {
		if !strings.Contains(h.log.String(), "the read is abandoned") {
			t.Error("the stop did not log the stuck read it abandoned")
		}
		close(rel3)
	})
	h = start(t, cfg, Options{Load: load})
	reload := func() Reply {
		ctx, cancel := context.WithTimeout(context.Background(), hang)
		defer cancel()
		return h.a.Do(ctx, Request{ID: "r", Command: "reloadconfig", Properties: map[string]any{"waiting": true}})
	}
	stuck := func(r Reply) bool {
		reason := fmt.Sprint(r["reason"])
		return r["errno"] == ErrnoAsync && strings.Contains(reason, "a read of the config file "+path+" has been stuck for") &&
			strings.Contains(reason, "nothing was changed")
	}
	replies := make(chan Reply, 2)
	go func() { replies <- reload() }()
	proctest.Eventually(t, "the first read began", func() bool { mu.Lock(); defer mu.Unlock(); return calls == 1 })
	go func() { replies <- reload() }() // queued behind the first
	for range 2 {
		if r := <-replies; !stuck(r) {
			t.Fatalf("a reload waiting on a stuck read replied %v", r)
		}
	}
	began := time.Now()
	if r := reload(); !stuck(r) || !strings.Contains(fmt.Sprint(r["reason"]), "refused at once") {
		t.Errorf("a reload asked for while the read is stuck replied %v", r)
	}
	if d := time.Since(began); d > readStuckAfter {
		t.Errorf("a reload asked for while the read is stuck took %v to answer", d)
	}
	if snap, err := h.a.Snapshot(context.Background()); err != nil || snap.Config.LastReloadOK || !strings.Contains(snap.Config.LastError, "has been stuck for") {
		t.Errorf("the snapshot's config state %+v does not show the stuck read", snap.Config)
	}

	close(rel1)
	proctest.Eventually(t, "the stuck read's late return logged", func() bool {
		return strings.Contains(h.log.String(), "the read of the config file that was stuck returned after all")
	})
	if r := reload(); r["status"] != "ok" {
		t.Fatalf("a reload after the stuck read returned replied %v", r)
	}
	h.do("reloadconfig", nil) // its read (the third) blocks until the cleanup
	proctest.Eventually(t, "the third read began", func() bool { mu.Lock(); defer mu.Unlock(); return calls == 3 })
}
