package arbiter

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/proctest"
)

// TestStuckAfterFromConfig: [arbiter] stuck_after (a fixed 30 s before)
// is the bound past which Live, hence /healthz and the watchdog, calls a
// loop in one step stuck; a reload applies a new value at once and says
// so among its settings.
func TestStuckAfterFromConfig(t *testing.T) {
	w := testWatcher("web", "sleep", 0)
	next := &configs.Config{Arbiter: configs.DefaultArbiter(), Watchers: []configs.Watcher{w}}
	next.Arbiter.StuckAfter = 2 * time.Second
	held, release := make(chan struct{}), make(chan struct{})
	var once, freeOnce sync.Once
	free := func() { freeOnce.Do(func() { close(release) }) }
	opts := Options{
		Load:      func() (*configs.Config, error) { return next, nil },
		holdSpawn: func() { once.Do(func() { close(held); <-release }) },
	}
	cfg := &configs.Config{Arbiter: configs.DefaultArbiter(), Watchers: []configs.Watcher{w}}
	cfg.Arbiter.StuckAfter = 20 * time.Second
	h := start(t, cfg, opts)
	t.Cleanup(free) // before the harness's stop: a failed test must not hold the loop
	if b := h.a.stuckBound(); b != 20*time.Second {
		t.Errorf("bound %v with stuck_after = 20s", b)
	}
	r := h.do("reloadconfig", map[string]any{"waiting": true})
	if s, _ := r["settings"].([]string); !slices.Contains(s, "arbiter.stuck_after") {
		t.Errorf("reload reply settings %v, want arbiter.stuck_after among them", r["settings"])
	}
	go h.a.Do(context.Background(), Request{ID: "t", Command: "incr", Properties: map[string]any{"name": "web"}})
	<-held // the loop is now in one step, a worker's fork
	var err error
	proctest.Eventually(t, "Live calls the held loop stuck", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		err = h.a.Live(ctx)
		var se *StuckError
		return errors.As(err, &se)
	})
	var se *StuckError
	if errors.As(err, &se); se.Bound != 2*time.Second || se.For < 2*time.Second {
		t.Errorf("stuck: %v, want past the reloaded bound of 2s", fmt.Sprint(err))
	}
	free()
}
