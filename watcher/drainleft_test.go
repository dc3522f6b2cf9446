package watcher

import (
	"strings"
	"testing"
	"time"
)

// A worker being stopped says how long it may still drain: when poold
// SIGKILLs it (its slot, its process), its stop signal's kill event
// carries graceful_timeout and what is left of it, and the reload's log
// line the graceful_timeout and the longest drain left. Nothing said so
// (r61 longconn trial, finding 3): "stopping" alone.
func TestDrainingWorkerSaysHowLongItHasLeft(t *testing.T) {
	s := spec(2)
	s.GracefulTimeout = 6 * time.Second
	w, h, buf := startedNotify(t, s)
	w.Reload(true, false)
	readyStarting(w)
	stopAt := h.now
	old := pidsIn(w, ProcStopping)
	if len(old) != 2 {
		t.Fatalf("stopping %v, want the 2 old workers", old)
	}
	for _, p := range w.Processes() {
		want := time.Time{}
		if p.State == ProcStopping {
			want = stopAt.Add(6 * time.Second)
		}
		if !p.KillAt().Equal(want) {
			t.Errorf("pid %d (%s): KillAt %v, want %v", p.Pid, p.State, p.KillAt(), want)
		}
	}
	for _, sl := range w.Slots() {
		if sl.State == ProcStopping && !sl.KillAt.Equal(stopAt.Add(6*time.Second)) {
			t.Errorf("slot %d: KillAt %v, want the stop + 6s", sl.Wid, sl.KillAt)
		}
	}
	if len(h.kills) != 2 || h.kills[0]["graceful_timeout"] != 6.0 || h.kills[0]["kill_in"] != 6.0 {
		t.Errorf("kill events %v, want the 2 SIGTERMs with graceful_timeout 6 and kill_in 6", h.kills)
	}
	if log := buf.String(); !strings.Contains(log, "stopping the old ones: watcher=web old=2 graceful_timeout=6s") {
		t.Errorf("log:\n%s\nwant the stop line with graceful_timeout=6s", log)
	}
	// The SIGKILL's event is the plain one: nothing is left to wait for.
	h.now = h.now.Add(6 * time.Second)
	for _, tm := range h.takeTimers(TimerKill) {
		w.Fire(tm)
	}
	if last := h.kills[len(h.kills)-1]; len(h.kills) != 4 || last["signal"] != 9 || last["kill_in"] != nil {
		t.Errorf("kill events after the deadline %v, want 2 SIGKILLs without kill_in", h.kills)
	}
}
