package watcher

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/poold/poold/configs"
)

// TestStartsOverlapTheirForks: a watcher keeps spawnAhead starts in
// flight (the host forks them meanwhile, and the loop does not wait for
// the spawner's thread on each), and finishes every start, in order,
// within the step that asked for it.
func TestStartsOverlapTheirForks(t *testing.T) {
	w, h := newWatcher(t, spec(4))
	w.Start()
	want := "begin 1, begin 2, begin 3, finish 1, begin 4, finish 2, finish 3, finish 4"
	if got := strings.Join(h.starts, ", "); got != want {
		t.Fatalf("starts: %s, want %s", got, want)
	}
	if fmt.Sprint(wids(w, ProcReady)) != "[1 2 3 4]" || w.Status() != Active {
		t.Fatalf("after start: %v, %s", w.Processes(), w.Status())
	}
}

// TestOverlappedStartFailureIsItsSlots: a start that fails, finished after
// the next ones began, is its own slot's early death; the others run.
func TestOverlappedStartFailureIsItsSlots(t *testing.T) {
	w, h := newWatcher(t, spec(3))
	h.fail = errors.New("fork/exec /bin/true: resource temporarily unavailable")
	w.Start()
	if got := strings.Join(h.starts[:4], ", "); got != "begin 1, begin 2, begin 3, finish 1" {
		t.Fatalf("starts: %v", h.starts)
	}
	if fmt.Sprint(wids(w, ProcReady)) != "[2 3]" {
		t.Fatalf("running wids %v, want [2 3]", wids(w, ProcReady))
	}
	slots := w.Slots()
	if len(slots) != 3 || slots[0].State != string(HoldBackoff) || !strings.Contains(slots[0].LastExit, "spawn error") {
		t.Fatalf("slot 1: %+v, want backing off after its spawn error", slots)
	}
	if w.LastSpawnError() != nil {
		t.Errorf("last spawn error %v: the later starts worked", w.LastSpawnError())
	}
}

// TestRolloutStartsFinishOneByOne: in a rolling reload a failed start
// abandons the rollout, so each start is finished before the next
// begins.
func TestRolloutStartsFinishOneByOne(t *testing.T) {
	s := spec(2)
	s.MaxSurge = configs.SurgeOf(2)
	s.Readiness = "delay"
	w, h := newWatcher(t, s)
	w.Start()
	for _, tm := range h.takeTimers(TimerReadyDelay) {
		w.Fire(tm)
	}
	h.starts = nil
	w.Reload(true, false)
	want := "begin 3, finish 3, begin 4, finish 4"
	if got := strings.Join(h.starts, ", "); got != want {
		t.Fatalf("rollout starts: %s, want %s", got, want)
	}
}

// TestFillFindsAWidFreedBelowWhereItLooks: fill looks for free wids from
// the first one not known to be taken; a wid freed below that (here a
// waiting slot dropped by a scale-down) is found again.
func TestFillFindsAWidFreedBelowWhereItLooks(t *testing.T) {
	w, _ := newWatcher(t, spec(2))
	w.Start()
	w.Exited(pidsIn(w, ProcReady)[1], 1) // an early death: wid 2 waits out its backoff
	if slots := w.Slots(); len(slots) != 2 || slots[1].State != string(HoldBackoff) {
		t.Fatalf("slots %+v, want wid 2 backing off", slots)
	}
	w.SetTarget(3) // fill passes wids 1 and 2 (taken), starts wid 3
	if got := fmt.Sprint(wids(w, ProcReady)); got != "[1 3]" {
		t.Fatalf("after incr: wids %s, want [1 3]", got)
	}
	w.SetTarget(2) // the waiting slot goes first: wid 2 is free
	w.SetTarget(3)
	if got := fmt.Sprint(wids(w, ProcReady)); got != "[1 2 3]" {
		t.Fatalf("after decr and incr: wids %s, want [1 2 3]", got)
	}
	checkWidCounts(w)
}
