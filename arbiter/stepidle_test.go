package arbiter

import (
	"testing"
	"time"

	"github.com/poold/poold/configs"
)

// The watcher of the loop's steps looks only while a step runs: between
// steps it waits for the next to begin. It looked every 250 ms for ever,
// which tripled an idle poold's CPU (0.028 % → 0.117 % of a core with 50
// workers; the bench's idle rows 0.034 % → 0.111 % at 10,000).
func TestStepWatcherSleepsWhileTheLoopIdles(t *testing.T) {
	h := start(t, &configs.Config{}, Options{NoCgroups: true})
	h.do("status", nil) // the loop runs; its step kicks the watcher once
	from := h.a.steps.looks.Load()
	// A window in which the loop does nothing but, perhaps, its periodic
	// check (every checkDelay): a watcher on a ticker looks 6 times in it.
	<-time.After(6 * stepLook)
	if n := h.a.steps.looks.Load() - from; n > 2 {
		t.Errorf("the step watcher looked %d times in %v of an idle loop, want at most 2 (one per step begun)", n, 6*stepLook)
	}
}
