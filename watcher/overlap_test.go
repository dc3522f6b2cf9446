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
	n := spawnAhead + 2
	w, h := newWatcher(t, spec(n))
	w.Start()
	// Start i+spawnAhead begins before start i finishes; the step's end
	// finishes the rest, in order.
	var want []string
	for i := 1; i <= n; i++ {
		want = append(want, fmt.Sprintf("begin %d", i))
		if i > spawnAhead {
			want = append(want, fmt.Sprintf("finish %d", i-spawnAhead))
		}
	}
	for i := n - spawnAhead + 1; i <= n; i++ {
		want = append(want, fmt.Sprintf("finish %d", i))
	}
	if got, w := strings.Join(h.starts, ", "), strings.Join(want, ", "); got != w {
		t.Fatalf("starts: %s, want %s", got, w)
	}
	var all []int
	for i := 1; i <= n; i++ {
		all = append(all, i)
	}
	if fmt.Sprint(wids(w, ProcReady)) != fmt.Sprint(all) || w.Status() != Active {
		t.Fatalf("after start: %v, %s", w.Processes(), w.Status())
	}
}

// TestOverlappedStartFailureIsItsSlots: a start that fails, finished after
// the next ones began, is its own slot's early death; the others run.
func TestOverlappedStartFailureIsItsSlots(t *testing.T) {
	n := spawnAhead + 1
	w, h := newWatcher(t, spec(n))
	h.fail = errors.New("fork/exec /bin/true: resource temporarily unavailable")
	w.Start()
	if got := h.starts[n]; got != "finish 1" || h.starts[n-1] != fmt.Sprintf("begin %d", n) {
		t.Fatalf("starts: %v, want start 1 finished after start %d began", h.starts, n)
	}
	var rest []int
	for i := 2; i <= n; i++ {
		rest = append(rest, i)
	}
	if fmt.Sprint(wids(w, ProcReady)) != fmt.Sprint(rest) {
		t.Fatalf("running wids %v, want %v", wids(w, ProcReady), rest)
	}
	slots := w.Slots()
	if len(slots) != n || slots[0].State != string(HoldBackoff) || !strings.Contains(slots[0].LastExit, "spawn error") {
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
