package watcher

import (
	"syscall"
	"testing"
	"time"
)

// What each worker's Restarts and the watcher's tally say along a life:
// a death in place counts one, a recycle's replacement in another wid
// carries on the count (one more, but for max_age), so does a kill's
// (no more), a reload starts every count at 0 whatever its wids had,
// and the tally keeps every restart by reason, across an upgrade too.
func TestRestartCountsFollowTheWorkers(t *testing.T) {
	s := spec(1)
	s.MaxAge = time.Hour
	w, h := newWatcher(t, s)
	w.Start()
	restartsOf := func(pid int) int {
		t.Helper()
		for _, p := range w.Processes() {
			if p.Pid == pid {
				return p.Restarts
			}
		}
		t.Fatalf("no worker pid %d: %v", pid, w.Processes())
		return 0
	}
	only := func(state string) int {
		t.Helper()
		pids := pidsIn(w, state)
		if len(pids) != 1 {
			t.Fatalf("%s workers %v, want one: %v", state, pids, w.Processes())
		}
		return pids[0]
	}
	first := only(ProcReady)

	h.now = h.now.Add(time.Minute) // past backoff_reset: replaced at once, in its wid
	w.Exited(first, 1)
	second := only(ProcReady)
	if n := restartsOf(second); n != 1 {
		t.Errorf("after a crash, the worker in its wid shows %d restarts, want 1", n)
	}

	h.now = h.now.Add(time.Hour)
	for _, tm := range h.takeTimers(TimerMaxAge) {
		if tm.Pid == second {
			w.Fire(tm)
		}
	}
	w.Exited(only(ProcStopping), -int(syscall.SIGTERM))
	third := only(ProcReady)
	if n := restartsOf(third); n != 1 || wids(w, ProcReady)[0] == 1 {
		t.Errorf("max_age's replacement in wid %v shows %d restarts, want 1 (the count it replaces) in another wid", wids(w, ProcReady), n)
	}

	if err := w.KillProcess(third, syscall.SIGTERM, -1); err != nil {
		t.Fatal(err)
	}
	w.Exited(third, -int(syscall.SIGTERM))
	fourth := only(ProcReady)
	if n := restartsOf(fourth); n != 1 {
		t.Errorf("a kill's replacement shows %d restarts, want 1 (the count it replaces)", n)
	}

	w.Reload(true, false)
	for _, pid := range pidsIn(w, ProcStopping) {
		w.Exited(pid, -int(syscall.SIGTERM))
	}
	if n := restartsOf(only(ProcReady)); n != 0 {
		t.Errorf("after a reload the new worker shows %d restarts, want 0", n)
	}

	want := func(w *Watcher) {
		t.Helper()
		r := w.Restarts()
		if r.Total() != 2 || r.ByReason[RestartExit] != 1 || r.ByReason[RestartMaxAge] != 1 {
			t.Errorf("tally %v, want 1 exit and 1 max_age", r.ByReason)
		}
		if l := r.Last; l.Reason != RestartMaxAge || l.Pid != second || l.Why != "max_age" || l.At.IsZero() {
			t.Errorf("last restart %+v, want max_age of pid %d", l, second)
		}
	}
	want(w)
	st := throughJSON(t, w.Snapshot(h.now))
	w2, _ := newWatcher(t, st.Spec)
	if err := w2.Adopt(st); err != nil {
		t.Fatal(err)
	}
	want(w2)
}

// The restart reason of a slot's death, as poold_worker_restarts_total
// names it.
func TestRestartCause(t *testing.T) {
	for _, tc := range []struct{ code, why, want string }{
		{ReasonExit, "exited with status 3", RestartExit},
		{ReasonSignal, "killed by signal KILL", RestartExit},
		{ReasonTimeout, "killed by poold after graceful_timeout", RestartExit},
		{ReasonOOM, "killed by the OOM killer", RestartOOM},
		{ReasonReadiness, "failed readiness: ...", RestartUnhealthy},
		{ReasonUnhealthy, "never healthy: ...", RestartUnhealthy},
		{ReasonLimit, "over its limit soon after start: ...", RestartLimit},
		{"", spawnErrorPrefix + "exec: no such file", RestartSpawnError},
	} {
		if got := restartCause(tc.code, tc.why); got != tc.want {
			t.Errorf("restartCause(%q, %q) = %q, want %q", tc.code, tc.why, got, tc.want)
		}
	}
}

// A kill of an old worker during a reload owes its count to a
// replacement, but the rollout replaces that worker with a new one that
// starts at 0: once the reload is over nothing stays owed, and a later
// scale-up's worker starts at 0, not at the killed worker's count.
func TestKillDuringReloadOwesNothingAfterIt(t *testing.T) {
	s := spec(1)
	s.Readiness = "notify" // the reload's new worker stays starting: a window to kill the old one
	w, h := newWatcher(t, s)
	w.Start()
	only := func(state string) int {
		t.Helper()
		pids := pidsIn(w, state)
		if len(pids) != 1 {
			t.Fatalf("%s workers %v, want one: %v", state, pids, w.Processes())
		}
		return pids[0]
	}
	old := only(ProcStarting)
	w.Ready(old)
	for range 2 { // two crashes past backoff_reset: replaced at once, in the wid
		h.now = h.now.Add(time.Minute)
		w.Exited(old, 1)
		old = only(ProcStarting)
		w.Ready(old)
	}
	w.Reload(true, false)
	fresh := only(ProcStarting)
	if err := w.KillProcess(old, syscall.SIGTERM, -1); err != nil { // poolctl kill
		t.Fatal(err)
	}
	w.Ready(fresh)
	w.Exited(old, -int(syscall.SIGTERM))
	if w.Rolling() {
		t.Fatalf("still rolling with the new worker ready and the old one gone: %v", w.Processes())
	}
	w.SetTarget(2) // poolctl incr
	for _, p := range w.Processes() {
		if p.Restarts != 0 {
			t.Errorf("worker pid %d wid %d (%s) shows %d restarts after the reload and a scale-up, want 0", p.Pid, p.Wid, p.State, p.Restarts)
		}
	}
}
