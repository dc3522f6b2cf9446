package watcher

import (
	"testing"
	"time"
)

// onDemand is an on_demand pool of numprocesses 1, max_workers 4, with
// idle_timeout 20s, started (cold) and read once long ago.
func onDemand(t *testing.T) (*Watcher, *fakeHost) {
	t.Helper()
	s := spec(1)
	s.OnDemand, s.MaxWorkers, s.IdleTimeout = true, 4, 20*time.Second
	w, h := newWatcher(t, s)
	w.Start()
	w.scaler.decide(w.sizing(), 0, h.now, Load{}, false) // primed long ago
	h.now = h.now.Add(10 * time.Minute)
	return w, h
}

// TestManualGrowthRestartsTheIdleClock: `poolctl incr lazy 3` on an idle
// on_demand pool was undone ~0.1 s later by idle_timeout (its last
// connection minutes ago); gunicorn masters got TERM in the middle of
// their boot. A manual growth now counts idle_timeout from itself.
func TestManualGrowthRestartsTheIdleClock(t *testing.T) {
	w, h := onDemand(t)
	w.SetTarget(3)
	if w.Target() != 3 {
		t.Fatalf("incr to 3: target %d", w.Target())
	}
	h.now = h.now.Add(100 * time.Millisecond)
	w.Demand(Load{})
	if sz := w.Size(); w.Target() != 3 {
		t.Fatalf("0.1 s after incr to 3, no connection: size %d (%s), want 3 until idle_timeout", w.Target(), sz.Reason)
	}
	h.now = h.now.Add(20 * time.Second)
	w.Demand(Load{})
	if sz := w.Size(); w.Target() != 0 || sz.Reason != "idle: no connection for 20s" {
		t.Fatalf("idle_timeout after incr: size %d (%s), want 0", w.Target(), sz.Reason)
	}
}

// TestOnDemandStopSaysItStartsCold: stopping an on_demand pool of
// numprocesses 1 said "the next start begins at the configured 0".
func TestOnDemandStopSaysItStartsCold(t *testing.T) {
	w, _ := onDemand(t)
	w.SetTarget(3)
	pids := w.Pids()
	if len(pids) != 3 {
		t.Fatalf("incr to 3: pids %v", pids)
	}
	w.Stop()
	for _, pid := range pids {
		w.Exited(pid, 0)
	}
	const want = "stopped: the next start is cold (0 until a connection, then 1)"
	if sz := w.Size(); w.Status() != Stopped || sz.Current != 0 || sz.Reason != want {
		t.Fatalf("after the stop: %v, size %d, last scale %q; want stopped, 0, %q", w.Status(), sz.Current, sz.Reason, want)
	}
}
