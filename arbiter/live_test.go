package arbiter

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/poold/poold/configs"
)

// TestLiveWhileSpawning: a loop that starts workers one after another
// without a pause (one reload of 1,000 workers kept it from answering for
// 5 to 13 s on a loaded machine, and /healthz said 503 throughout, as
// did systemd's watchdog) is busy, not stuck: Live says ErrBusy. A loop
// that holds a message and does nothing past its StuckAfter is stuck
// (stepstuck_test.go has one held for less: busy).
func TestLiveWhileSpawning(t *testing.T) {
	// /bin/sleep: cheap to start, so the machine stays free for the loop.
	w := configs.DefaultWatcher("web")
	w.Cmd, w.Args, w.NumProcesses = "/bin/sleep", []string{"3600"}, 0
	h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{StuckAfter: time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()

	// The loop starts one worker after another, each a real fork and
	// exec, until the probe has its answer (at most 2,000).
	var stop atomic.Bool
	entered, left := make(chan struct{}), make(chan int)
	h.a.post(funcMsg{func() {
		web := h.a.watchers["web"]
		close(entered)
		n := 0
		for ; !stop.Load() && n < 2000; n++ {
			web.SetTarget(web.Target() + 1)
		}
		left <- n
	}})
	<-entered
	pctx, pcancel := context.WithTimeout(ctx, time.Second) // /healthz's wait
	err := h.a.Live(pctx)
	pcancel()
	stop.Store(true)
	n := <-left
	if !errors.Is(err, ErrBusy) {
		t.Errorf("Live while the loop started %d workers: %v, want ErrBusy (busy is alive)", n, err)
	}

	held, release := make(chan struct{}), make(chan struct{})
	h.a.post(funcMsg{func() { close(held); <-release }})
	<-held
	pctx, pcancel = context.WithTimeout(ctx, 50*time.Millisecond)
	defer pcancel()
	err = h.a.Live(pctx)
	close(release)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Live with the loop held and idle: %v, want context.DeadlineExceeded (stuck)", err)
	}
}
