package watcher

import (
	"bytes"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
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

// Every slot lacking pids or fds logged each of its failures at warn:
// 69 slots under a pids.max wrote 60 lines a second, and since they no
// longer give up, would have for as long as the want lasted. A watcher
// now says it at warn once a LackLogEvery, counting the lines left out.
func TestLackLoggedOncePerInterval(t *testing.T) {
	var buf bytes.Buffer
	h := newFakeHost()
	s := spec(30)
	w, err := New(s, Sockets{}, h, hclog.New(&hclog.LoggerOptions{Output: &buf, Level: hclog.Info}))
	if err != nil {
		t.Fatal(err)
	}
	h.seen, w.spawnWindow = w, 0
	h.failAlways = fmt.Errorf("start /bin/sleep: fork: %w", syscall.EAGAIN)
	w.Start()
	start := h.now
	// Rounds of backoffs and pauses (7s, the longest) for 50s, several
	// pauses of every slot.
	for h.now.Sub(start) < LackLogEvery-10*time.Second {
		fireRound(h, w)
	}
	if n := strings.Count(buf.String(), "[WARN]"); n != 1 {
		t.Fatalf("%d warn lines in %v of 30 slots lacking pids, want 1:\n%s", n, h.now.Sub(start), buf.String())
	}
	if strings.Contains(buf.String(), "flapping pause over") {
		t.Errorf("each lacking slot's pause is logged at info:\n%s", buf.String())
	}
	buf.Reset()
	h.now = start.Add(LackLogEvery)
	fireRound(h, w)
	if !strings.Contains(buf.String(), "similar_left_out=") {
		t.Errorf("the next minute's line does not count the lines left out:\n%s", buf.String())
	}
	// A program that cannot start at all is still logged slot by slot.
	buf.Reset()
	h.failAlways = fmt.Errorf("start /nonexistent: %w", syscall.ENOENT)
	fireRound(h, w)
	if n := strings.Count(buf.String(), "[WARN]"); n < 2 {
		t.Errorf("%d warn lines for 30 slots whose program is missing, want one each:\n%s", n, buf.String())
	}
}

// fireRound fires every respawn and flapping-retry timer armed, as their
// delays run side by side: the clock moves by the longest.
func fireRound(h *fakeHost, w *Watcher) {
	tms := append(h.takeTimers(TimerRespawn), h.takeTimers(TimerFlapRetry)...)
	var longest time.Duration
	for _, tm := range tms {
		longest = max(longest, h.delays[tm])
	}
	h.now = h.now.Add(longest)
	for _, tm := range tms {
		w.Fire(tm)
	}
}
