package watcher

import (
	"testing"
	"time"
)

// `set NAME max_age N` acts on the workers already running, as Circus's
// does (it checks every process's age): a worker older than the new
// max_age is recycled at once, a younger one when it reaches it; a
// max_age raised or turned off leaves alone a worker the old one would
// have recycled.
func TestMaxAgeSetAppliesToRunningWorkers(t *testing.T) {
	w, h := newWatcher(t, spec(2))
	w.Start()
	if ages := h.takeTimers(TimerMaxAge); len(ages) != 0 {
		t.Fatalf("max_age timers without max_age: %v", ages)
	}
	h.now = h.now.Add(3 * time.Minute)
	upd := w.Spec()
	upd.MaxAge = time.Minute
	if err := w.Update(upd, w.Sockets()); err != nil {
		t.Fatal(err)
	}
	ages := h.takeTimers(TimerMaxAge)
	if len(ages) != 2 {
		t.Fatalf("after set max_age 60: timers %v, want one per running worker", ages)
	}
	for _, a := range ages {
		if d := h.delays[a]; d != 0 {
			t.Errorf("pid %d, 3 minutes old, recycled in %v, want at once", a.Pid, d)
		}
	}

	// Raised to an hour: the pending one-minute timers no longer recycle.
	upd.MaxAge = time.Hour
	if err := w.Update(upd, w.Sockets()); err != nil {
		t.Fatal(err)
	}
	longer := h.takeTimers(TimerMaxAge)
	if len(longer) != 2 || h.delays[longer[0]] != 57*time.Minute {
		t.Fatalf("after set max_age 3600: timers %v (delay %v), want 2 in 57m", longer, h.delays[longer[0]])
	}
	before := w.Pids()
	w.Fire(ages[0])
	if len(pidsIn(w, ProcStopping)) != 0 || len(w.Pids()) != len(before) {
		t.Fatalf("a timer of the old max_age recycled a worker: %v", w.Processes())
	}
	h.now = h.now.Add(57 * time.Minute)
	w.Fire(longer[0])
	if len(pidsIn(w, ProcStopping)) != 1 {
		t.Fatalf("the new max_age did not recycle: %v", w.Processes())
	}
}

// A change of max_age_variance alone reaches the running workers too:
// the timers armed without it recycled all of them at once, at exactly
// max_age, whatever the new variance (r47c review: 6 workers within
// 26 ms of each other).
func TestMaxAgeVarianceSetAppliesToRunningWorkers(t *testing.T) {
	s := spec(1)
	s.MaxAge = time.Minute
	w, h := newWatcher(t, s)
	w.Start()
	old := h.takeTimers(TimerMaxAge)
	upd := w.Spec()
	upd.MaxAgeVariance = 30 * time.Second
	if err := w.Update(upd, w.Sockets()); err != nil {
		t.Fatal(err)
	}
	spread := h.takeTimers(TimerMaxAge)
	if len(old) != 1 || len(spread) != 1 {
		t.Fatalf("timers %v then %v, want one each", old, spread)
	}
	d := h.delays[spread[0]]
	if d < time.Minute || d >= time.Minute+30*time.Second {
		t.Fatalf("the new timer is in %v, want within [1m, 1m30s)", d)
	}
	h.now = h.now.Add(time.Minute)
	w.Fire(old[0])
	if len(pidsIn(w, ProcStopping)) != 0 && d > time.Minute {
		t.Fatalf("the timer armed before the variance recycled the worker at exactly max_age: %v", w.Processes())
	}
	h.now = h.now.Add(d - time.Minute)
	w.Fire(spread[0])
	if len(pidsIn(w, ProcStopping)) != 1 {
		t.Fatalf("the new timer did not recycle: %v", w.Processes())
	}
}

// A max_age and max_age_variance whose sum passes the largest duration
// (both are taken up to 2562047h) made a negative age: the timer fired at
// once and every worker was recycled as soon as it was ready, forever.
func TestMaxAgeHugeDoesNotOverflow(t *testing.T) {
	s := spec(1)
	s.MaxAge = 2562047 * time.Hour
	s.MaxAgeVariance = 1000000 * time.Hour
	w, h := newWatcher(t, s)
	w.Start()
	ages := h.takeTimers(TimerMaxAge)
	if len(ages) != 1 {
		t.Fatalf("max_age timers %v, want one", ages)
	}
	if d := h.delays[ages[0]]; d < s.MaxAge {
		t.Errorf("max_age timer in %v, want at least max_age %v", d, s.MaxAge)
	}
	w.Fire(ages[0])
	if stopping := pidsIn(w, ProcStopping); len(stopping) != 0 {
		t.Fatalf("a worker was recycled at once: %v", w.Processes())
	}
}
