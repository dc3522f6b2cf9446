package watcher

import (
	"slices"
	"testing"
	"time"
)

// loopWid2 puts wid 2 of a 2-worker watcher into a crash loop.
func loopWid2(t *testing.T) (*Watcher, *fakeHost) {
	t.Helper()
	w, h := newWatcher(t, spec(2))
	w.Start()
	w.Exited(w.Processes()[1].Pid, 3)
	for _, tm := range h.takeTimers(TimerRespawn) {
		w.Fire(tm)
	}
	w.Exited(w.Processes()[1].Pid, 3)
	if w.Status() != Flapping {
		t.Fatalf("wid 2 in backoff: status %v, want flapping", w.Status())
	}
	h.events = nil
	return w, h
}

// reloadPast respawns wid 2 and reloads the watcher to the end: every
// old worker stopped, on purpose.
func reloadPast(w *Watcher, h *fakeHost) {
	for _, tm := range h.takeTimers(TimerRespawn) {
		w.Fire(tm)
	}
	w.Reload(true, false)
	for _, p := range pidsIn(w, ProcStopping) {
		w.Exited(p, 0)
	}
}

// fireRecovered lets backoff_reset pass and fires the TimerRecovered
// timers armed meanwhile.
func fireRecovered(w *Watcher, h *fakeHost) {
	h.now = h.now.Add(10 * time.Second)
	for _, tm := range h.takeTimers(TimerRecovered) {
		w.Fire(tm)
	}
}

// A crash loop ended other than by a worker living backoff_reset (a
// scale-down that drops the slot, a reload that stops its worker on
// purpose) says so with `recovered` too, once the watcher has not flapped
// again for backoff_reset: a subscriber that raised an alert on flapping
// kept it for good. A slot started again that still crashes flaps again
// and says nothing (r47c review: recovered, then flapping 0.3 s later, at
// every start or reload).
func TestCrashLoopEndedOtherwiseIsPublished(t *testing.T) {
	t.Run("decr", func(t *testing.T) {
		w, h := loopWid2(t)
		w.SetTarget(1)
		if slices.Contains(h.events, "recovered") {
			t.Fatalf("recovered at once: %v", h.events)
		}
		fireRecovered(w, h)
		if w.Status() != Active || !slices.Contains(h.events, "recovered") {
			t.Fatalf("after decr dropped the looping slot: status %v, events %v; want active and recovered", w.Status(), h.events)
		}
	})
	t.Run("reload", func(t *testing.T) {
		w, h := loopWid2(t)
		reloadPast(w, h)
		fireRecovered(w, h)
		if w.Status() != Active || !slices.Contains(h.events, "recovered") {
			t.Fatalf("after a reload replaced the looping slot's worker: status %v, events %v; want active and recovered", w.Status(), h.events)
		}
	})
	t.Run("reload of a slot that still crashes", func(t *testing.T) {
		w, h := loopWid2(t)
		reloadPast(w, h)
		for range 2 { // wid 2's new worker dies early, twice: a loop again
			w.Exited(w.Processes()[1].Pid, 3)
			for _, tm := range h.takeTimers(TimerRespawn) {
				w.Fire(tm)
			}
		}
		fireRecovered(w, h)
		if slices.Contains(h.events, "recovered") {
			t.Fatalf("recovered for a slot that flaps again: status %v, events %v", w.Status(), h.events)
		}
	})
	t.Run("stop says stop, not recovered", func(t *testing.T) {
		w, h := loopWid2(t)
		w.Stop()
		for _, p := range w.Pids() {
			w.Exited(p, 0)
		}
		fireRecovered(w, h)
		if slices.Contains(h.events, "recovered") {
			t.Fatalf("a stop published recovered: %v", h.events)
		}
	})
}
