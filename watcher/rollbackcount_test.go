package watcher

import (
	"strings"
	"syscall"
	"testing"

	"github.com/poold/poold/configs"
)

// readyNotify is a started watcher of n workers, all ready, with
// readiness notify and max_surge 1, and its spec.
func readyNotify(t *testing.T, n int) (*Watcher, *fakeHost, configs.Watcher) {
	t.Helper()
	s := spec(n)
	s.Readiness = "notify"
	s.MaxSurge = configs.SurgeOf(1)
	w, h := newWatcher(t, s)
	w.Start()
	for _, p := range w.Pids() {
		w.Ready(p)
	}
	return w, h, s
}

// abandonRoll fires the ready timeout of every starting worker: the new
// workers of the rollout never became ready.
func abandonRoll(t *testing.T, w *Watcher, h *fakeHost) {
	t.Helper()
	for _, p := range pidsIn(w, ProcStopping) { // a shrink stops old ones first
		w.Exited(p, -15)
	}
	for _, tm := range h.takeTimers(TimerReadyTimeout) {
		w.Fire(tm)
	}
	if w.ReloadError() == nil {
		t.Fatalf("rollout not abandoned: %v", w.Processes())
	}
	for _, p := range pidsIn(w, ProcStopping) {
		w.Exited(p, -15)
	}
	for _, p := range pidsIn(w, ProcStarting) { // the old count's respawns
		w.Ready(p)
	}
}

// An update that changes numprocesses together with a key that rolls the
// workers over is one change: when the new workers fail, the old count
// comes back with the old spec, instead of the old workers running at the
// rejected count (which a later reload of the good file, seeing its
// numprocesses unchanged, would keep).
func TestAbandonedUpdateRestoresItsCount(t *testing.T) {
	for _, tc := range []struct {
		name     string
		from, to int
	}{{"shrink", 3, 1}, {"grow", 2, 4}} {
		t.Run(tc.name, func(t *testing.T) {
			w, h, s := readyNotify(t, tc.from)
			upd := s
			upd.Cmd = "/bin/false"
			upd.NumProcesses = tc.to
			if err := w.Update(upd, Sockets{}); err != nil {
				t.Fatal(err)
			}
			abandonRoll(t, w, h)
			if got := w.Spec().NumProcesses; got != tc.from {
				t.Errorf("numprocesses after the rollback: %d, want the old %d", got, tc.from)
			}
			if got := len(pidsIn(w, ProcReady)); got != tc.from || !w.Settled() {
				t.Errorf("ready workers after the rollback: %d (settled %v), want %d: %v", got, w.Settled(), tc.from, w.Processes())
			}
		})
	}
}

// A count set at run time while the rollout runs (incr, decr) is the
// user's, not the abandoned spec's: it stays.
func TestAbandonedUpdateKeepsIncrDuringIt(t *testing.T) {
	w, h, s := readyNotify(t, 2)
	upd := s
	upd.Cmd = "/bin/false"
	upd.NumProcesses = 3
	if err := w.Update(upd, Sockets{}); err != nil {
		t.Fatal(err)
	}
	w.SetTarget(4)
	abandonRoll(t, w, h)
	if got := w.Spec().NumProcesses; got != 4 {
		t.Errorf("numprocesses after the rollback: %d, want 4 (the incr during the rollout)", got)
	}
}

// SpecStands clears the reason of an abandoned rollout of a new spec
// (the config went back on it), not that of a reload of the same spec:
// the config says nothing of that one.
func TestSpecStandsClearsOnlyARefusedSpec(t *testing.T) {
	for _, tc := range []struct {
		name    string
		newSpec bool
		cleared bool
	}{{"config change", true, true}, {"reload of the same spec", false, false}} {
		t.Run(tc.name, func(t *testing.T) {
			w, h, s := readyNotify(t, 2)
			if tc.newSpec {
				upd := s
				upd.Cmd = "/bin/false"
				if err := w.Update(upd, Sockets{}); err != nil {
					t.Fatal(err)
				}
			} else {
				w.Reload(true, false)
			}
			abandonRoll(t, w, h)
			w.SpecStands()
			if cleared := w.ReloadError() == nil; cleared != tc.cleared {
				t.Errorf("reason cleared: %v, want %v (reason %v)", cleared, tc.cleared, w.ReloadError())
			}
		})
	}
}

// An old worker that dies on its own during a rollout passes its count
// to no one while the rollout may replace it; when the rollout is then
// abandoned, poold starts one with the old spec in its slot, without
// being asked: a restart, in status's tally as in
// poold_worker_restarts_total (which counted it, and the tally did not:
// r64 overlap trial).
func TestOldWorkerDeadDuringAbandonedRollIsARestart(t *testing.T) {
	w, h, s := readyNotify(t, 2)
	upd := s
	upd.Cmd = "/bin/false"
	if err := w.Update(upd, Sockets{}); err != nil {
		t.Fatal(err)
	}
	var dead Process
	for _, p := range w.Processes() {
		if p.State == ProcReady && p.Gen != w.specGen {
			dead = p
			break
		}
	}
	if dead.Pid == 0 {
		t.Fatalf("no old worker serving during the rollout: %v", w.Processes())
	}
	w.Exited(dead.Pid, -int(syscall.SIGKILL))
	abandonRoll(t, w, h)
	if err := w.ReloadError(); err == nil || !strings.Contains(err.Error(), "the old workers keep serving (1 of 2; the rest start again with the previous settings)") {
		t.Errorf("reason %v, want that 1 of the 2 old workers serves", err)
	}
	r := w.Restarts()
	if r.Total() != 1 || r.ByReason[RestartExit] != 1 || r.Last.Pid != dead.Pid || r.Last.Wid != dead.Wid {
		t.Errorf("tally %v, last %+v; want 1 exit restart of pid %d (wid %d)", r.ByReason, r.Last, dead.Pid, dead.Wid)
	}
	for _, p := range w.Processes() {
		if p.Wid == dead.Wid && p.Restarts != 1 {
			t.Errorf("the worker started again in wid %d shows %d restarts, want 1", p.Wid, p.Restarts)
		}
	}
}

// When the rollout goes through, the reload's new workers replace the old
// worker that died during it: no restart.
func TestOldWorkerDeadDuringRollIsNoRestart(t *testing.T) {
	w, _, s := readyNotify(t, 2)
	upd := s
	upd.Args = []string{"again"}
	if err := w.Update(upd, Sockets{}); err != nil {
		t.Fatal(err)
	}
	for _, p := range w.Processes() {
		if p.State == ProcReady && p.Gen != w.specGen {
			w.Exited(p.Pid, -int(syscall.SIGKILL))
			break
		}
	}
	for range 10 {
		for _, p := range pidsIn(w, ProcStarting) {
			w.Ready(p)
		}
		for _, p := range pidsIn(w, ProcStopping) {
			w.Exited(p, -15)
		}
	}
	if w.Rolling() || w.ReloadError() != nil {
		t.Fatalf("rollout not through: rolling %v, error %v: %v", w.Rolling(), w.ReloadError(), w.Processes())
	}
	if r := w.Restarts(); r.Total() != 0 {
		t.Errorf("tally %v after a rollout that replaced the dead old worker, want none", r.ByReason)
	}
}
