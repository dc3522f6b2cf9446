package watcher

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/configs"
)

func TestStartScaleAndStop(t *testing.T) {
	w, h := newWatcher(t, spec(3))
	w.Start()
	if w.Status() != Active || fmt.Sprint(wids(w, ProcReady)) != "[1 2 3]" {
		t.Fatalf("after start: %v %v", w.Status(), wids(w, ProcReady))
	}
	w.SetTarget(5)
	if fmt.Sprint(wids(w, ProcReady)) != "[1 2 3 4 5]" {
		t.Fatalf("after incr: %v", wids(w, ProcReady))
	}
	w.SetTarget(2)
	if fmt.Sprint(wids(w, ProcReady)) != "[1 2]" || fmt.Sprint(wids(w, ProcStopping)) != "[3 4 5]" {
		t.Fatalf("after decr: ready %v stopping %v", wids(w, ProcReady), wids(w, ProcStopping))
	}
	settled := false
	w.Stop()
	w.WhenSettled(func() { settled = true })
	for _, pid := range w.Pids() {
		w.Exited(pid, -15)
	}
	if w.Status() != Stopped || !settled {
		t.Fatalf("after stop: %v settled=%v", w.Status(), settled)
	}
	if n := strings.Count(strings.Join(h.signals, " "), ":TERM"); n != 5 {
		t.Errorf("%d TERM signals, want 5: %v", n, h.signals)
	}
}

func TestDeadWorkerReplacedWithSameWid(t *testing.T) {
	w, h := newWatcher(t, spec(3))
	w.Start()
	h.now = h.now.Add(time.Hour) // long-lived: no backoff
	victim := pidsIn(w, ProcReady)[1]
	w.Exited(victim, -9)
	if fmt.Sprint(wids(w, ProcReady)) != "[1 2 3]" || w.Has(victim) {
		t.Fatalf("after death: %v", w.Processes())
	}
	if got := w.Processes()[1].Restarts; got != 1 {
		t.Errorf("restarts of wid 2 = %d, want 1", got)
	}
}

func TestQuickDeathsBackOff(t *testing.T) {
	s := spec(1)
	s.FlappingAttempts = 0
	w, h := newWatcher(t, s)
	w.Start()
	for i := 0; i < 3; i++ {
		w.Exited(w.Pids()[0], 1)
		if len(w.Pids()) != 0 {
			t.Fatalf("death %d: respawned at once", i)
		}
		timers := h.takeTimers(TimerRespawn)
		if len(timers) != 1 {
			t.Fatalf("death %d: %d respawn timers", i, len(timers))
		}
		w.Fire(timers[0])
		w.Fire(timers[0]) // a stale second delivery changes nothing
		if len(w.Pids()) != 1 {
			t.Fatalf("death %d: not respawned after the delay", i)
		}
	}
}

func TestRollingReloadStartsNewBeforeOld(t *testing.T) {
	s := spec(3)
	s.Readiness = "delay"
	s.MaxSurge = configs.SurgeOf(1)
	w, h := newWatcher(t, s)
	w.Start()
	for _, tm := range h.takeTimers(TimerReadyDelay) {
		w.Fire(tm)
	}
	oldPids := pidsIn(w, ProcReady)
	if len(oldPids) != 3 || w.Status() != Active {
		t.Fatalf("not all ready: %v", w.Processes())
	}
	w.Reload(true, false)
	for round := 0; round < 3; round++ {
		// One new worker (max_surge 1) starts; no old one stops yet.
		starting := pidsIn(w, ProcStarting)
		if len(starting) != 1 || len(pidsIn(w, ProcReady)) != 3 {
			t.Fatalf("round %d: starting %v ready %v", round, starting, pidsIn(w, ProcReady))
		}
		for _, tm := range h.takeTimers(TimerReadyDelay) {
			w.Fire(tm)
		}
		// Ready: one old worker retires.
		stopping := pidsIn(w, ProcStopping)
		if len(stopping) != 1 {
			t.Fatalf("round %d: stopping %v", round, stopping)
		}
		w.Exited(stopping[0], 0)
	}
	ready := pidsIn(w, ProcReady)
	for _, p := range ready {
		for _, o := range oldPids {
			if p == o {
				t.Fatalf("old pid %d survived the reload", o)
			}
		}
	}
	if len(ready) != 3 || !w.Settled() || w.ReloadError() != nil {
		t.Fatalf("after reload: %v settled=%v err=%v", w.Processes(), w.Settled(), w.ReloadError())
	}
	if fmt.Sprint(wids(w, ProcReady)) != "[4 5 6]" && fmt.Sprint(wids(w, ProcReady)) != "[1 2 3]" {
		t.Logf("wids after reload: %v", wids(w, ProcReady))
	}
}

func TestRollingReloadAbortsWhenNewWorkerNeverReady(t *testing.T) {
	s := spec(2)
	s.Readiness = "notify"
	s.MaxSurge = configs.SurgeOf(1)
	w, h := newWatcher(t, s)
	w.Start()
	for _, p := range w.Pids() {
		w.Ready(p)
	}
	oldPids := pidsIn(w, ProcReady)
	var upd = s
	upd.Cmd = "/bin/false"
	if err := w.Update(upd, Sockets{}); err != nil {
		t.Fatal(err)
	}
	newPid := pidsIn(w, ProcStarting)
	if len(newPid) != 1 {
		t.Fatalf("starting %v", newPid)
	}
	var timeout Timer
	for _, tm := range h.takeTimers(TimerReadyTimeout) {
		if tm.Pid == newPid[0] {
			timeout = tm
		}
	}
	w.Fire(timeout)
	if err := w.ReloadError(); err == nil || !strings.Contains(err.Error(), "not ready within ready_timeout") {
		t.Fatalf("reload error %v", err)
	}
	if fmt.Sprint(pidsIn(w, ProcReady)) != fmt.Sprint(oldPids) {
		t.Fatalf("old workers %v, now ready %v", oldPids, pidsIn(w, ProcReady))
	}
	if w.Spec().Cmd != "/bin/true" {
		t.Errorf("spec not restored: cmd %q", w.Spec().Cmd)
	}
	w.Exited(newPid[0], -15)
	if !w.Settled() {
		t.Errorf("not settled after abandoning the reload: %v", w.Processes())
	}
}

func TestFlappingPausesThenGivesUpWithoutTouchingHealthyWorkers(t *testing.T) {
	s := spec(2)
	s.FlappingAttempts = 3
	s.FlappingWindow = time.Minute
	s.FlappingMaxRetry = 1
	s.BackoffMin = time.Millisecond
	w, h := newWatcher(t, s)
	w.Start()
	h.now = h.now.Add(time.Hour)
	healthy := pidsIn(w, ProcReady)[0]
	crash := func() {
		for _, p := range w.Processes() {
			if p.Pid != healthy {
				w.Exited(p.Pid, 1)
				return
			}
		}
		t.Fatalf("no crashing worker to crash: %v", w.Processes())
	}
	respawn := func() {
		for _, tm := range h.takeTimers(TimerRespawn) {
			w.Fire(tm)
		}
	}
	crash() // long-lived: replaced at once, counts for nothing
	if len(h.takeTimers(TimerRespawn)) != 0 || len(w.Pids()) != 2 {
		t.Fatalf("a long-lived worker's death was not replaced at once: %v", w.Processes())
	}
	crash()
	respawn()
	crash()
	respawn()
	crash() // third early death in a row
	if w.Status() != Flapping || !strings.Contains(w.Reason(), "retrying") {
		t.Fatalf("status %v reason %q", w.Status(), w.Reason())
	}
	if len(h.takeTimers(TimerRespawn)) != 0 || len(w.Pids()) != 1 || !w.Has(healthy) {
		t.Fatalf("while flapping: %v", w.Processes())
	}
	retry := h.takeTimers(TimerFlapRetry)
	w.Fire(retry[0])
	if len(w.Pids()) != 2 {
		t.Fatalf("after the pause the slot was not restarted: %v", w.Processes())
	}
	crash()
	respawn()
	crash()
	respawn()
	crash()
	if w.Status() != Failed || !strings.Contains(w.Reason(), "gave up") {
		t.Fatalf("status %v reason %q", w.Status(), w.Reason())
	}
	if !w.Has(healthy) || len(w.Pids()) != 1 || !w.Settled() {
		t.Fatalf("after giving up: %v settled=%v", w.Processes(), w.Settled())
	}
	w.Start() // the user tries again
	if w.Status() != Active || len(w.Pids()) != 2 {
		t.Fatalf("after start: %v %v", w.Status(), w.Processes())
	}
}

func TestOverLimitWorkerIsRecycledThroughRollingPath(t *testing.T) {
	s := spec(2)
	s.MaxRSS = 1000
	s.LimitThreshold = 2
	w, h := newWatcher(t, s)
	w.Start()
	fat := pidsIn(w, ProcReady)[0]
	h.now = h.now.Add(time.Minute) // a slow leak: a young one is an early death (limits_test.go)
	w.Sampled(fat, 5000, 0)
	if len(pidsIn(w, ProcStopping)) != 0 {
		t.Fatalf("replaced after one sample")
	}
	w.Sampled(fat, 5000, 0)
	// Replacement spawned and ready (readiness spawn) before the fat one retires.
	if fmt.Sprint(pidsIn(w, ProcStopping)) != fmt.Sprint([]int{fat}) || len(pidsIn(w, ProcReady)) != 2 {
		t.Fatalf("after the limit: %v", w.Processes())
	}
	w.Exited(fat, -15)
	if !w.Settled() || len(w.Pids()) != 2 {
		t.Fatalf("after recycle: %v", w.Processes())
	}
}

// healthChecked starts a one-worker watcher with a tcp health check
// (threshold 2) and runs its first health round: its worker's pid and
// the check to answer.
func healthChecked(t *testing.T) (*Watcher, *fakeHost, int, Check) {
	t.Helper()
	s := spec(1)
	s.HealthCheck = "tcp"
	s.HealthAddress = "127.0.0.1:1"
	s.HealthThreshold = 2
	w, h := newWatcher(t, s)
	w.Start()
	pid := w.Pids()[0]
	health := h.takeTimers(TimerHealth)
	if len(health) != 1 {
		t.Fatalf("health timers %v", health)
	}
	w.Fire(health[0])
	if len(h.checks) != 1 || h.checks[0].Kind != CheckHealth {
		t.Fatalf("checks %v", h.checks)
	}
	return w, h, pid, h.checks[0]
}

func TestHealthFailuresRecycle(t *testing.T) {
	w, _, pid, c := healthChecked(t)
	w.Checked(c, errors.New("refused"))
	w.Checked(c, nil)
	w.Checked(c, errors.New("refused"))
	if len(pidsIn(w, ProcStopping)) != 0 {
		t.Fatalf("recycled although failures were not in a row")
	}
	w.Checked(c, errors.New("refused"))
	if fmt.Sprint(pidsIn(w, ProcStopping)) != fmt.Sprint([]int{pid}) {
		t.Fatalf("unhealthy worker not replaced: %v", w.Processes())
	}
}

// TestNeverHealthyIsAnEarlyDeath: a worker that failed every health check
// it had was replaced through the rolling path, forever, with no backoff
// or flapping, while status said active. It is now stopped without a
// replacement first, and its exit is an early death of its slot (backoff,
// then flapping and failed), with reason "unhealthy".
func TestNeverHealthyIsAnEarlyDeath(t *testing.T) {
	w, h, pid, c := healthChecked(t)
	w.Checked(c, errors.New("refused"))
	w.Checked(c, errors.New("refused"))
	if fmt.Sprint(pidsIn(w, ProcStopping)) != fmt.Sprint([]int{pid}) || len(w.Pids()) != 1 {
		t.Fatalf("never-healthy worker: %v, want it stopping with no replacement", w.Processes())
	}
	w.Exited(pid, -15)
	if r := h.reaps[len(h.reaps)-1]; r["reason"] != ReasonUnhealthy || fmt.Sprint(r["exit_reason"]) != "never healthy: refused; killed by signal TERM" {
		t.Errorf("reap %v, want reason %q", r, ReasonUnhealthy)
	}
	if sl := w.Slots(); len(sl) != 1 || sl[0].State != string(HoldBackoff) {
		t.Errorf("slots %v, want wid 1 in backoff", sl)
	}
}

func TestSpawnErrorRetriesWithBackoff(t *testing.T) {
	w, h := newWatcher(t, spec(1))
	h.fail = errors.New("exec format error")
	w.Start()
	if len(w.Pids()) != 0 || w.LastSpawnError() == nil {
		t.Fatalf("after failed spawn: %v", w.Processes())
	}
	timers := h.takeTimers(TimerRespawn)
	w.Fire(timers[0])
	if len(w.Pids()) != 1 || w.LastSpawnError() != nil {
		t.Fatalf("after retry: %v", w.Processes())
	}
}

func TestMaxAgeRecyclesThroughRollingPath(t *testing.T) {
	s := spec(2)
	s.MaxAge = time.Hour
	w, h := newWatcher(t, s)
	w.Start()
	ages := h.takeTimers(TimerMaxAge)
	if len(ages) != 2 {
		t.Fatalf("max_age timers %v", ages)
	}
	h.now = h.now.Add(time.Hour)
	w.Fire(ages[0])
	// The replacement (readiness spawn: ready at once) is up before the old one stops.
	if fmt.Sprint(pidsIn(w, ProcStopping)) != fmt.Sprint([]int{ages[0].Pid}) || len(pidsIn(w, ProcReady)) != 2 {
		t.Fatalf("after max_age: %v", w.Processes())
	}
	for _, p := range w.Processes() {
		if p.State == ProcReady && p.Pid != ages[1].Pid && (p.Wid == ages[0].Wid || p.Wid == ages[1].Wid) {
			t.Errorf("replacement took wid %d, in use by the worker it replaces or the other one", p.Wid)
		}
	}
}

func TestWarmupDelaySpacesSpawns(t *testing.T) {
	s := spec(3)
	s.WarmupDelay = time.Second
	w, h := newWatcher(t, s)
	w.Start()
	for n := 1; n <= 3; n++ {
		if len(w.Pids()) != n {
			t.Fatalf("after %d warmup periods: %d workers", n-1, len(w.Pids()))
		}
		w.SetTarget(3) // other activity does not skip the delay
		if len(w.Pids()) != n {
			t.Fatalf("spawned before warmup_delay passed")
		}
		warm := h.takeTimers(TimerWarmup)
		if len(warm) != 1 {
			t.Fatalf("warmup timers %v", warm)
		}
		w.Fire(warm[0])
	}
}

func TestSendHUPReloadSignalsInsteadOfReplacing(t *testing.T) {
	s := spec(2)
	s.SendHUP = true
	w, h := newWatcher(t, s)
	w.Start()
	before := fmt.Sprint(w.Pids())
	w.Reload(true, false)
	if fmt.Sprint(w.Pids()) != before || strings.Count(strings.Join(h.signals, " "), ":HUP (process)") != 2 {
		t.Fatalf("pids %v (were %s), signals %v", w.Pids(), before, h.signals)
	}
}

// A rollout's old workers stop together once the whole batch of new ones
// is ready, not one by one as each new one is: an old worker told to stop
// closes its kept-alive connections, and their clients reconnect to
// whoever accepts first; while other old workers still run, that is often
// one of them, which closes the same connection again at its turn.
func TestRolloutRetiresOldWorkersInWholeBatches(t *testing.T) {
	s := spec(3)
	s.Readiness = "delay" // max_surge: the default, 100%
	w, h := newWatcher(t, s)
	w.Start()
	for _, tm := range h.takeTimers(TimerReadyDelay) {
		w.Fire(tm)
	}
	w.Reload(true, false)
	delays := h.takeTimers(TimerReadyDelay)
	if len(delays) != 3 || len(pidsIn(w, ProcReady)) != 3 {
		t.Fatalf("reload started %d new workers, %d old ready: %v", len(delays), len(pidsIn(w, ProcReady)), w.Processes())
	}
	for i, tm := range delays[:2] {
		w.Fire(tm)
		if stopping := pidsIn(w, ProcStopping); len(stopping) != 0 {
			t.Fatalf("%d of 3 new workers ready: old ones %v already stopping", i+1, stopping)
		}
	}
	w.Fire(delays[2])
	if stopping := pidsIn(w, ProcStopping); len(stopping) != 3 {
		t.Fatalf("the whole batch ready: stopping %v, want the 3 old workers", stopping)
	}
	for _, pid := range pidsIn(w, ProcStopping) {
		w.Exited(pid, -15)
	}
	if !w.Settled() || w.ReloadError() != nil || len(pidsIn(w, ProcReady)) != 3 {
		t.Fatalf("after reload: %v settled=%v err=%v", w.Processes(), w.Settled(), w.ReloadError())
	}
}
