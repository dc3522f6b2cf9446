package watcher

import (
	"strings"
	"testing"
	"time"
)

// Defect: supervisord's autorestart=unexpected (its default) with
// exitcodes had no poold equivalent, so a program that finished its work
// and exited 0 was started again and again (then called flapping).
// no_respawn_exit_codes leaves the slot of a ready worker that exits with
// a listed status empty; any other end is replaced as before.
func TestNoRespawnExitCodesLeaveTheSlotEmpty(t *testing.T) {
	s := spec(2)
	s.NoRespawnExitCodes = []int{0, 3}
	w, h := newWatcher(t, s)
	w.Start()
	pids := w.Pids()
	w.Exited(pids[0], 3)
	if len(h.spawned) != 2 || w.Status() != Active ||
		!strings.Contains(w.Reason(), "wid 1 exited with status 3, a status no_respawn_exit_codes lists") {
		t.Fatalf("after a listed status: spawned %v, %v %q", h.spawned, w.Status(), w.Reason())
	}
	w.Exited(pids[1], 1) // not listed: replaced after its backoff
	for _, tm := range h.takeTimers(TimerRespawn) {
		w.Fire(tm)
	}
	if len(h.spawned) != 3 {
		t.Fatalf("status 1 is not listed: spawned %v", h.spawned)
	}
	w.Exited(h.spawned[2], -9) // a signal is never a listed status
	for _, tm := range h.takeTimers(TimerRespawn) {
		w.Fire(tm)
	}
	if len(h.spawned) != 4 {
		t.Fatalf("killed by a signal: spawned %v", h.spawned)
	}
	w.Exited(h.spawned[3], 0)
	if w.Status() != Stopped || h.events[len(h.events)-1] != "stop" || len(h.spawned) != 4 {
		t.Fatalf("all exited with listed statuses: %v, events %v, spawned %v", w.Status(), h.events, h.spawned)
	}
	w.Start()
	if w.Status() != Active || len(w.Pids()) != 2 {
		t.Fatalf("start again: %v %v", w.Status(), w.Processes())
	}
}

// A worker that exits with a listed status before it is ready failed its
// start (supervisord: exited before startsecs), and is started again.
func TestNoRespawnExitCodesBeforeReadyIsAFailedStart(t *testing.T) {
	s := spec(1)
	s.NoRespawnExitCodes = []int{0}
	s.Readiness, s.ReadyDelay = "delay", time.Second
	w, h := newWatcher(t, s)
	w.Start()
	w.Exited(w.Pids()[0], 0)
	for _, tm := range h.takeTimers(TimerRespawn) {
		w.Fire(tm)
	}
	if len(h.spawned) != 2 {
		t.Fatalf("exit 0 before ready: spawned %v, %v %q", h.spawned, w.Status(), w.Reason())
	}
	for _, tm := range h.takeTimers(TimerReadyDelay) {
		w.Fire(tm)
	}
	w.Exited(h.spawned[1], 0)
	if len(h.spawned) != 2 || w.Status() != Stopped {
		t.Fatalf("exit 0 once ready: spawned %v, %v %q", h.spawned, w.Status(), w.Reason())
	}
}
