package watcher

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// Defect (report C §3): a watcher whose only slot crash-looped read
// `active`, with no reason, between its pauses and in the first backoffs,
// and so did one whose program could not be spawned at all. Now it reads
// `flapping`, with the slot and why, for the whole loop, until a worker
// of the slot lives backoff_reset.
func TestCrashLoopStaysFlappingUntilAWorkerSurvives(t *testing.T) {
	for _, tc := range []struct {
		name  string
		crash func(w *Watcher, h *fakeHost)
		why   string
	}{
		{"exit 3", func(w *Watcher, h *fakeHost) {
			for _, p := range w.Pids() {
				w.Exited(p, 3)
			}
		}, "exited with status 3"},
		{"spawn error", func(w *Watcher, h *fakeHost) {
			h.failAlways = errors.New(`command "/nonexistent/prog" not found`)
		}, `spawn error: command "/nonexistent/prog" not found`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, h := newWatcher(t, spec(1)) // the defaults: 5 deaths a streak, 7s pauses, backoff_reset 10s
			tc.crash(w, h)
			w.Start()
			if len(w.Pids()) == 0 {
				check := "at start"
				if st, r := w.Status(), w.Reason(); st != Flapping || !strings.Contains(r, "wid 1 is flapping: "+tc.why) {
					t.Fatalf("%s: status %v, reason %q; want flapping, naming wid 1 and %q", check, st, r, tc.why)
				}
			}
			check := func(when string) {
				t.Helper()
				if st, r := w.Status(), w.Reason(); st != Flapping || !strings.Contains(r, "wid 1 is flapping: "+tc.why) {
					t.Fatalf("%s: status %v, reason %q; want flapping, naming wid 1 and %q", when, st, r, tc.why)
				}
			}
			for i := 1; i <= 12; i++ { // two pauses and into the third streak
				tc.crash(w, h)
				if i == 1 && len(w.Pids()) == 0 && h.failAlways == nil {
					// One early death is not a loop (see TestOneEarlyDeathIsNotFlapping).
					if st := w.Status(); st != Active {
						t.Fatalf("after one early death: status %v, want active", st)
					}
				} else {
					check("after early death " + string(rune('0'+i%10)))
				}
				for _, kind := range []TimerKind{TimerRespawn, TimerFlapRetry} {
					for _, tm := range h.takeTimers(kind) {
						h.now = h.now.Add(h.delays[tm])
						w.Fire(tm)
					}
				}
				if i > 1 || h.failAlways != nil {
					check("after the slot's wait")
				}
			}
			h.failAlways = nil
			for len(w.Pids()) == 0 { // the spawn error case: its next start succeeds
				for _, tm := range h.takeTimers(TimerRespawn) {
					w.Fire(tm)
				}
			}
			check("while the new worker is young")
			h.now = h.now.Add(10 * time.Second)
			due := h.timers // the one that counts the new worker's life among them
			h.timers = nil
			for _, tm := range due {
				w.Fire(tm)
			}
			if st, r := w.Status(), w.Reason(); st != Active || r != "" {
				t.Fatalf("after a worker lived backoff_reset: status %v, reason %q; want active, no reason", st, r)
			}
			w.Exited(w.Pids()[0], 3) // it lived backoff_reset: replaced at once
			if st := w.Status(); st != Active || len(w.Pids()) != 1 {
				t.Fatalf("a long-lived worker's death: status %v, workers %v; want active, replaced at once", st, w.Processes())
			}
			w.Exited(w.Pids()[0], 3) // an early death again: a new history, counted from one
			if st := w.Status(); st != Active {
				t.Fatalf("one early death after the loop ended: status %v, want active", st)
			}
			for _, tm := range h.takeTimers(TimerRespawn) {
				w.Fire(tm)
			}
			w.Exited(w.Pids()[0], 3) // and a second one: a new loop
			if r := w.Reason(); w.Status() != Flapping || !strings.Contains(r, "2 early deaths in a row") {
				t.Fatalf("two early deaths after the loop ended: status %v, reason %q", w.Status(), r)
			}
		})
	}
}

// A slot a scale-down dropped keeps no seat: its history does not keep
// the watcher flapping.
func TestDroppedLoopingSlotIsNotFlapping(t *testing.T) {
	w, h := newWatcher(t, spec(2))
	w.Start()
	w.Exited(w.Processes()[1].Pid, 3) // wid 2 backs off
	for _, tm := range h.takeTimers(TimerRespawn) {
		w.Fire(tm)
	}
	w.Exited(w.Processes()[1].Pid, 3) // and again: a loop
	if w.Status() != Flapping {
		t.Fatalf("wid 2 in backoff: status %v, want flapping", w.Status())
	}
	w.SetTarget(1)
	if st, r := w.Status(), w.Reason(); st != Active || r != "" {
		t.Fatalf("after decr dropped wid 2: status %v, reason %q; want active", st, r)
	}
}

// Defect (report C §5): the reason said "retrying in 4.9s" (rounded) while
// the slot table beside it said "in 4s" (truncated, as `poolctl status`
// prints a slot's retry_at). The reason now uses the table's words.
func TestFlappingReasonSaysRetryAsTheSlotTable(t *testing.T) {
	s := spec(1)
	s.FlappingAttempts = 1
	s.FlappingRetryIn = 7 * time.Second
	w, h := newWatcher(t, s)
	w.Start()
	w.Exited(w.Pids()[0], -9) // an early death: the slot pauses for 7s
	for _, tc := range []struct {
		after time.Duration
		want  string
	}{
		{2100 * time.Millisecond, "retrying in 4s"}, // 4.9s left
		{6500 * time.Millisecond, "retrying now"},   // 0.5s left
	} {
		now := h.now
		h.now = h.now.Add(tc.after)
		if r := w.Reason(); !strings.Contains(r, "killed by signal KILL, 1 times in a row") || !strings.Contains(r, tc.want) {
			t.Errorf("%v into the pause: reason %q; want %q", tc.after, r, tc.want)
		}
		h.now = now
	}
}

// An ordinary kill -9 (or OOM kill) of a worker younger than
// backoff_reset is one early death: its slot backs off briefly and gets a
// new worker, and the watcher stays active throughout. The crash-loop
// status of report C §3 first made it flapping for 10 s.
func TestOneEarlyDeathIsNotFlapping(t *testing.T) {
	w, h := newWatcher(t, spec(2))
	w.Start()
	w.Exited(w.Processes()[0].Pid, -9)
	if st, r := w.Status(), w.Reason(); st != Active || r != "" {
		t.Fatalf("in the backoff after one kill -9: status %v, reason %q; want active", st, r)
	}
	for _, tm := range h.takeTimers(TimerRespawn) {
		w.Fire(tm)
	}
	if st, r := w.Status(), w.Reason(); st != Active || r != "" || len(w.Pids()) != 2 {
		t.Fatalf("after the replacement: status %v, reason %q, pids %v; want active with 2", st, r, w.Pids())
	}
}

// A slot whose program cannot be spawned was "flapping: spawn error:
// ..., 5 times in a row soon after starting" (and "N early deaths"
// while backing off), though nothing ever started. Its reason now says
// its worker could not be started, in backoff and in the pause alike.
func TestSpawnErrorReasonSaysNothingStarted(t *testing.T) {
	w, h := newWatcher(t, spec(1)) // 5 starts a streak, then a pause
	h.failAlways = errors.New(`command "/nonexistent/prog" not found`)
	w.Start()
	var reasons []string
	for range 5 {
		reasons = append(reasons, w.Reason())
		for _, tm := range h.takeTimers(TimerRespawn) {
			h.now = h.now.Add(h.delays[tm])
			w.Fire(tm)
		}
	}
	reasons = append(reasons, w.Reason())
	for _, want := range []string{
		`wid 1 is flapping: spawn error: command "/nonexistent/prog" not found; its worker could not be started; retrying`,
		`wid 1 is flapping: spawn error: command "/nonexistent/prog" not found; its worker could not be started twice in a row; retrying`,
		`wid 1 is flapping: spawn error: command "/nonexistent/prog" not found; its worker could not be started 5 times in a row; retrying in 7s`,
	} {
		found := false
		for _, r := range reasons {
			found = found || strings.HasPrefix(r, want)
		}
		if !found {
			t.Errorf("no reason starts %q:\n%s", want, strings.Join(reasons, "\n"))
		}
	}
	for _, r := range reasons {
		if strings.Contains(r, "soon after starting") || strings.Contains(r, "early death") {
			t.Errorf("reason %q speaks of a start, though nothing started", r)
		}
	}
}

// AttemptOf, as poold starts each worker of a slot that crash-loops, then
// recovers: the first worker has no history, the second follows one early
// death, the third on (a pause included) follow a crash loop; a worker
// after one that lived backoff_reset starts over.
func TestAttemptOfFollowsTheCrashLoop(t *testing.T) {
	w, h := newWatcher(t, spec(1)) // the defaults: 5 deaths a streak, 7s pauses, backoff_reset 10s
	w.Start()
	want := []Attempt{{1, false, false}, {2, true, false}, {3, true, true}, {4, true, true}, {5, true, true},
		{6, true, true}, {7, true, true}} // the 6th after the first pause
	for i, at := range want {
		if got := w.AttemptOf(1); got != at {
			t.Fatalf("worker %d: %+v, want %+v", i+1, got, at)
		}
		if i == len(want)-1 {
			break
		}
		for _, p := range w.Pids() {
			w.Exited(p, 1)
		}
		for _, kind := range []TimerKind{TimerRespawn, TimerFlapRetry} {
			for _, tm := range h.takeTimers(kind) {
				h.now = h.now.Add(h.delays[tm])
				w.Fire(tm)
			}
		}
	}
	h.now = h.now.Add(time.Minute) // it lives long: its death is no early one
	for _, p := range w.Pids() {
		w.Exited(p, 1)
	}
	if got, at := w.AttemptOf(1), (Attempt{N: 8}); got != at {
		t.Fatalf("the worker after one that lived a minute: %+v, want %+v", got, at)
	}
}
