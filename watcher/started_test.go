package watcher

import (
	"fmt"
	"strings"
	"testing"

	"github.com/poold/poold/watcher/handover"
)

// Defect: a new worker with readiness "spawn" and no socket counted as
// ready once it had lived 100 ms of wall-clock time. On a machine loaded
// enough that a program failing at once (`sleep -c`) took longer than
// that to exit, a rolling reload counted the new workers ready and
// stopped the serving ones, leaving a crash loop. The window's end now
// starts a look at the worker (ready once seen asleep or using CPU): the
// reload waits, and the new worker's exit abandons it.
func TestSocketlessReloadWaitsUntilNewWorkersStarted(t *testing.T) {
	w, h := newWatcher(t, spec(2))
	w.spawnWindow = defaultSpawnWindow
	w.Start()
	for _, tm := range h.takeTimers(TimerReadyDelay) {
		w.Fire(tm)
	}
	first := handoverChecks(h)
	if len(first) != 2 || len(pidsIn(w, ProcReady)) != 0 {
		t.Fatalf("first start, windows over: looks %v, ready %v; want 2 looks, none ready yet", first, pidsIn(w, ProcReady))
	}
	w.Checked(first[0], nil) // seen asleep
	w.Checked(first[1], fmt.Errorf("pid %d %w", first[1].Pid, handover.ErrNotStarted))
	old := pidsIn(w, ProcReady)
	if len(old) != 2 || w.Status() != Active {
		t.Fatalf("first start: ready %v, status %v; want 2 ready (a look that gave up counts as ready), active", old, w.Status())
	}

	w.Reload(true, false)
	windows := h.takeTimers(TimerReadyDelay)
	if len(windows) == 0 {
		t.Fatal("reload started no new worker")
	}
	for _, tm := range windows {
		w.Fire(tm) // their windows are over, and the program has not started
	}
	looks := handoverChecks(h)
	if len(looks) != len(windows) || len(pidsIn(w, ProcStopping)) != 0 || fmt.Sprint(pidsIn(w, ProcReady)) != fmt.Sprint(old) {
		t.Fatalf("new workers' windows over: looks %v, stopping %v, ready %v; want %d looks and the old workers %v serving",
			looks, pidsIn(w, ProcStopping), pidsIn(w, ProcReady), len(windows), old)
	}
	w.Exited(looks[0].Pid, 1) // the new program fails on its argument
	if fmt.Sprint(pidsIn(w, ProcReady)) != fmt.Sprint(old) || !strings.Contains(w.Reason(), "exited with status 1 before it was ready") {
		t.Fatalf("after the new worker failed: ready %v (were %v), reason %q; want the old workers serving and the reload abandoned",
			pidsIn(w, ProcReady), old, w.Reason())
	}
}
