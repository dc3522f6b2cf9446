package arbiter

import (
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/configs"
)

// TestFailedReasonCountsPauses: the status of a slot that gave up says
// after how many pauses in words a user reads as written ("1 pause", not
// "1 pauses"; flapping_max_retry = 0 gives up with no pause at all).
func TestFailedReasonCountsPauses(t *testing.T) {
	for _, tc := range []struct {
		retries int
		want    string
	}{
		{0, "it gave up after its first streak of early deaths (flapping_max_retry = 0);"},
		{1, "it gave up after 1 pause;"},
		{2, "it gave up after 2 pauses;"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			w := testWatcher("crashy", "crash", 1)
			w.BackoffMin, w.BackoffMax = time.Millisecond, 5*time.Millisecond
			w.FlappingAttempts, w.FlappingWindow = 2, time.Minute
			w.FlappingRetryIn, w.FlappingMaxRetry = 10*time.Millisecond, tc.retries
			h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{})
			h.next("failed", nil)
			r := h.do("status", map[string]any{"name": "crashy"})
			if reason, _ := r["reason"].(string); r["state"] != "failed" || !strings.Contains(reason, tc.want) {
				t.Errorf("status reply %v, want failed saying %q", r, tc.want)
			}
		})
	}
}
