package watcher

import (
	"fmt"
	"syscall"
	"testing"
)

// A slot whose worker could not be started for want of pids, memory or
// fds (poold's RLIMIT_NOFILE used up, a pids.max reached) gave up after
// flapping_max_retry pauses, about 40 s with the defaults, and stayed
// empty once the limit was raised or other workers ended: only `poolctl
// start` filled it again. The want is poold's or the host's, not the
// slot's: it now pauses again instead, and starts by itself once the
// resource is back. A program that cannot be started still gives up.
func TestSlotOutlastsALackOfPidsOrFds(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error
		giveUp bool
	}{
		{"pids supply", fmt.Errorf("start /bin/sleep: fork: %w", syscall.EAGAIN), false},
		{"fd supply", fmt.Errorf("spawn: pipe2: %w", syscall.EMFILE), false},
		{"memory", fmt.Errorf("start /bin/sleep: fork: %w", syscall.ENOMEM), false},
		{"missing program", fmt.Errorf("start /nonexistent: %w", syscall.ENOENT), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := spec(2)
			w, h := newWatcher(t, s)
			h.failAlways = tc.err
			w.Start()
			failed := false
			// Far more rounds of retries than MaxRetry pauses allow.
			for range 20 * (s.FlappingAttempts + 1) * (s.FlappingMaxRetry + 1) {
				fireRetries(h, w)
				failed = failed || w.Status() == Failed
			}
			if failed != tc.giveUp {
				t.Fatalf("gave up: %v, want %v (status %v, reason %q)", failed, tc.giveUp, w.Status(), w.Reason())
			}
			if tc.giveUp {
				return
			}
			h.failAlways = nil // the limit raised, or workers ended
			fireRetries(h, w)
			// Flapping until a worker outlives backoff_reset, as after
			// any crash loop; but running.
			if st, pids := w.Status(), w.Pids(); st == Failed || len(pids) != 2 {
				t.Fatalf("once the %s is back: status %v, pids %v; want 2 workers", tc.name, st, pids)
			}
		})
	}
}

// fireRetries fires every respawn and flapping-retry timer armed, its
// delay having passed.
func fireRetries(h *fakeHost, w *Watcher) {
	for _, tm := range append(h.takeTimers(TimerRespawn), h.takeTimers(TimerFlapRetry)...) {
		h.now = h.now.Add(h.delays[tm])
		w.Fire(tm)
	}
}
