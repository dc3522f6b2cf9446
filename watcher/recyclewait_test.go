package watcher

import (
	"strings"
	"testing"
	"time"
)

// A max_age recycle while a reload's old workers still drain (long
// connections, a long graceful_timeout) and hold every wid up to
// numprocesses + max_surge: the log said "replacing it" though the
// replacement started only when a drain ended (95 s later in the ws
// trial), and status showed the worker as plain "ready". The log now
// says the replacement waits for a wid, and the slot says so.
func TestMaxAgeRecycleHeldByDrainingWorkersSaysItWaits(t *testing.T) {
	s := spec(2)
	s.MaxAge = time.Hour
	w, h, buf := newLoggedWatcher(t, s)
	w.Start()
	h.takeTimers(TimerMaxAge)
	w.Reload(true, false) // new workers in wids 3, 4; the old ones stopping in 1, 2 (no exit yet)
	if n := len(pidsIn(w, ProcStopping)); n != 2 {
		t.Fatalf("after the reload: %d stopping, want 2: %v", n, w.Processes())
	}
	ages := h.takeTimers(TimerMaxAge)
	if len(ages) != 2 {
		t.Fatalf("max_age timers of the new workers: %v", ages)
	}
	h.now = h.now.Add(time.Hour)
	before := len(w.Pids())
	w.Fire(ages[0])
	if len(w.Pids()) != before {
		t.Fatalf("a replacement started though every wid is taken: %v", w.Processes())
	}
	log := buf.String()
	if strings.Contains(log, "replacing it") || !strings.Contains(log, "worker reached max_age; its replacement starts once a wid frees") || !strings.Contains(log, "stopping=2") {
		t.Errorf("the log does not say the replacement waits:\n%s", log)
	}
	var note string
	for _, sl := range w.Slots() {
		if sl.Pid == ages[0].Pid {
			note = sl.Recycle
		}
	}
	if want := "max_age; its replacement waits for a free wid (2 workers still stopping)"; note != want {
		t.Errorf("slot of pid %d: recycle %q, want %q", ages[0].Pid, note, want)
	}
}
