package arbiter

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
)

// TestLimitCountsWorkersChildren: max_rss judges a worker with the
// processes it started (each of them, not their sum). A gunicorn or
// uvicorn master holds little memory of its own; its workers, its
// children, leak. Judged on the
// master alone, a pool of gunicorns with every worker at 300 MiB stayed
// under a max_rss of 150M for ever.
func TestLimitCountsWorkersChildren(t *testing.T) {
	w := testWatcher("master", "hoard", 1)
	// The worker is a shell that waits for its child, which leaks.
	w.Cmd = "/bin/sh"
	w.Args = []string{"-c", `"$0" & wait`, os.Args[0]}
	w.MaxRSS = 64 << 20
	w.LimitThreshold = 2
	w.BackoffReset = 100 * time.Millisecond // past this, a slow leak: replaced rolling
	h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{})
	sampleEvery(t, h, 50*time.Millisecond)
	first := h.next("spawn", nil).Fields["process_pid"]
	ev := h.next("recycle", nil)
	reason, _ := ev.Fields["reason"].(string)
	if ev.Fields["process_pid"] != first || !strings.Contains(reason, "over max_rss") || !strings.Contains(reason, "which the worker started") {
		t.Errorf("recycle event %v, want pid %v over max_rss in the process it started", ev.Fields, first)
	}
}

// sampleEvery runs h's stats sampler every period (resource limits are
// judged on its samples) until the test ends.
func sampleEvery(t *testing.T, h *harness, period time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = h.a.RunStats(ctx, period, events.NewBus(nil))
	}()
	t.Cleanup(func() { cancel(); <-done })
}
