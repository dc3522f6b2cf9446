package watcher

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/poold/poold/configs"
	"time"
)

// checkWids fails when two live processes share a wid or a wid falls
// outside 1..numprocesses+max_surge.
func checkWids(t *testing.T, w *Watcher, when string) {
	t.Helper()
	seen := map[int]int{}
	for _, p := range w.Processes() {
		if other, dup := seen[p.Wid]; dup {
			t.Fatalf("%s: wid %d held by pids %d and %d: %v", when, p.Wid, other, p.Pid, w.Processes())
		}
		seen[p.Wid] = p.Pid
		if top := w.Spec().NumProcesses + w.Spec().MaxSurge.Of(w.Spec().NumProcesses); p.Wid < 1 || p.Wid > top {
			t.Fatalf("%s: wid %d outside 1..%d: %v", when, p.Wid, top, w.Processes())
		}
	}
}

// Defect: a rolling reload gave a new worker the wid of an old worker that
// was still draining, so a per-wid readiness probe was answered by the old
// process.
func TestRollingReloadNeverSharesAWidWithADrainingWorker(t *testing.T) {
	for _, surge := range []int{1, 2, 3} {
		t.Run(fmt.Sprintf("max_surge=%d", surge), func(t *testing.T) {
			s := spec(3)
			s.Readiness = "notify"
			s.MaxSurge = configs.SurgeOf(surge)
			w, _ := newWatcher(t, s)
			w.Start()
			for _, pid := range w.Pids() {
				w.Ready(pid)
			}
			old := map[int]bool{}
			for _, pid := range w.Pids() {
				old[pid] = true
			}
			w.Reload(true, false)
			for round := 0; round < 20 && len(old) > 0; round++ {
				checkWids(t, w, fmt.Sprintf("round %d", round))
				// New workers become ready one at a time; old ones drain
				// and are reaped later.
				for _, pid := range pidsIn(w, ProcStarting) {
					w.Ready(pid)
					checkWids(t, w, "after ready")
					break
				}
				for _, pid := range pidsIn(w, ProcStopping) {
					w.Exited(pid, 0)
					delete(old, pid)
					checkWids(t, w, "after reap")
					break
				}
			}
			if len(old) != 0 || !w.Settled() || len(pidsIn(w, ProcReady)) != 3 {
				t.Fatalf("reload did not finish: old left %v, %v", old, w.Processes())
			}
		})
	}
}

// The same rule holds for one worker recycled while another is killed.
func TestRecycleAndKillKeepWidsUnique(t *testing.T) {
	s := spec(2)
	s.Readiness = "notify"
	w, _ := newWatcher(t, s)
	w.Start()
	for _, pid := range w.Pids() {
		w.Ready(pid)
	}
	pids := w.Pids()
	if err := w.KillProcess(pids[0], 15, -1); err != nil {
		t.Fatal(err)
	}
	checkWids(t, w, "after kill")
	w.Sampled(pids[1], 1, 0) // no limit: nothing happens
	starting := pidsIn(w, ProcStarting)
	if len(starting) != 1 {
		t.Fatalf("kill: want one replacement starting, got %v", w.Processes())
	}
	w.Ready(starting[0])
	checkWids(t, w, "after ready")
}

// Defect: a new worker that cannot be spawned at all (cmd deleted, not
// executable) made a reload stop every old worker and start none.
func TestSpawnErrorAbortsRolloutAndOldWorkersKeepServing(t *testing.T) {
	s := spec(2)
	s.Readiness = "notify"
	w, h := newWatcher(t, s)
	w.Start()
	for _, pid := range w.Pids() {
		w.Ready(pid)
	}
	oldPids := fmt.Sprint(pidsIn(w, ProcReady))
	upd := s
	upd.Cmd = "/nonexistent/server"
	h.fail = errors.New("fork/exec /nonexistent/server: no such file or directory")
	if err := w.Update(upd, Sockets{}); err != nil {
		t.Fatal(err)
	}
	if err := w.ReloadError(); err == nil || !strings.Contains(err.Error(), "/nonexistent/server") {
		t.Fatalf("reload error %v, want the spawn error", err)
	}
	if got := fmt.Sprint(pidsIn(w, ProcReady)); got != oldPids || len(pidsIn(w, ProcStopping)) != 0 {
		t.Fatalf("old workers %s, now %v", oldPids, w.Processes())
	}
	if w.Spec().Cmd != "/bin/true" || !w.Settled() || w.Status() != Active {
		t.Fatalf("spec %q settled %v status %v", w.Spec().Cmd, w.Settled(), w.Status())
	}
	if !strings.Contains(strings.Join(h.events, " "), "reload_failed") {
		t.Errorf("no reload_failed event: %v", h.events)
	}
}

// Defect: five kill -9s of different long-lived workers within 10 s put
// the watcher in flapping and delayed every replacement.
func TestLongLivedDeathsAreReplacedAtOnce(t *testing.T) {
	w, h := newWatcher(t, spec(5))
	w.Start()
	h.now = h.now.Add(time.Minute)
	first := w.Pids()
	for i := 0; i < 5; i++ {
		victim := first[i]
		wid := 0
		for _, p := range w.Processes() {
			if p.Pid == victim {
				wid = p.Wid
			}
		}
		w.Exited(victim, -9)
		if len(w.Pids()) != 5 || len(h.takeTimers(TimerRespawn)) != 0 || w.Status() != Active {
			t.Fatalf("kill %d: %v, status %v: not replaced at once", i, w.Processes(), w.Status())
		}
		found := false
		for _, p := range w.Processes() {
			found = found || (p.Wid == wid && p.Pid != victim)
		}
		if !found {
			t.Fatalf("kill %d: wid %d not refilled: %v", i, wid, w.Processes())
		}
		h.now = h.now.Add(time.Millisecond)
	}
	// The replacements are young now; the same slots dying again long
	// after start are still replaced at once.
	h.now = h.now.Add(time.Hour)
	for _, pid := range w.Pids() {
		w.Exited(pid, -9)
	}
	if len(w.Pids()) != 5 || len(h.takeTimers(TimerRespawn)) != 0 {
		t.Fatalf("second round: %v", w.Processes())
	}
}

// Defect: with the defaults a crash loop never ended visibly, and spawn
// errors never counted. Now a failing slot gives up within the bound the
// README states, says why, and healthy slots keep running.
func TestCrashLoopWithDefaultsEndsFailed(t *testing.T) {
	for _, tc := range []struct {
		name  string
		crash func(w *Watcher, h *fakeHost, healthy int)
		why   string
	}{
		{"exit 3", func(w *Watcher, h *fakeHost, healthy int) {
			for _, p := range w.Pids() {
				if p != healthy {
					w.Exited(p, 3)
				}
			}
		}, "exited with status 3"},
		{"spawn error", func(w *Watcher, h *fakeHost, healthy int) {
			h.failAlways = errors.New(`command "/opt/app" not found`)
			for _, p := range w.Pids() {
				if p != healthy {
					w.Exited(p, 1)
				}
			}
		}, `spawn error: command "/opt/app" not found`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, h := newWatcher(t, spec(2))
			w.Start()
			h.now = h.now.Add(time.Hour)
			healthy := w.Pids()[0]
			var waited time.Duration
			for i := 0; i < 200 && w.Status() != Failed; i++ {
				tc.crash(w, h, healthy)
				for _, kind := range []TimerKind{TimerRespawn, TimerFlapRetry} {
					for _, tm := range h.takeTimers(kind) {
						waited += h.delays[tm]
						w.Fire(tm)
					}
				}
			}
			if w.Status() != Failed {
				t.Fatalf("never failed: %v %q", w.Status(), w.Reason())
			}
			if waited > 2*time.Minute {
				t.Errorf("gave up after %v of waiting; the README promises under 2 minutes", waited)
			}
			r := w.Reason()
			if !strings.Contains(r, "wid 2") || !strings.Contains(r, tc.why) || !strings.Contains(r, "start web") {
				t.Errorf("reason %q does not say which slot, why and what to do", r)
			}
			if fmt.Sprint(w.Pids()) != fmt.Sprint([]int{healthy}) || !w.Settled() {
				t.Errorf("healthy worker touched or not settled: %v", w.Processes())
			}
			if !strings.Contains(strings.Join(h.events, " "), "failed") {
				t.Errorf("no failed event: %v", h.events)
			}
			h.failAlways = nil
			w.Start() // try again
			if w.Status() != Active || fmt.Sprint(wids(w, ProcReady)) != "[1 2]" {
				t.Errorf("start after failed: %v %v, want wids 1 and 2 ready", w.Status(), w.Processes())
			}
		})
	}
}

// Defect: stop then an immediate start ran two generations at once.
func TestStartWaitsForAStopInProgress(t *testing.T) {
	w, h := newWatcher(t, spec(3))
	w.Start()
	first := w.Pids()
	w.Stop()
	w.Start()
	if len(h.spawned) != 3 || w.Status() != Stopping {
		t.Fatalf("start during stop spawned at once: spawned %v, status %v", h.spawned, w.Status())
	}
	settled := false
	w.WhenSettled(func() { settled = true })
	for _, pid := range first[:2] {
		w.Exited(pid, -15)
	}
	if len(h.spawned) != 3 || settled {
		t.Fatalf("spawned before the last old worker was gone: %v", h.spawned)
	}
	w.Exited(first[2], -15)
	if len(w.Pids()) != 3 || w.Status() != Active || !settled {
		t.Fatalf("after the stop: %v %v settled=%v", w.Status(), w.Processes(), settled)
	}
}

// Defect: a watcher whose workers all exited with respawn off showed
// active.
func TestAllExitedWithRespawnOffIsStopped(t *testing.T) {
	s := spec(2)
	s.Respawn = false
	w, h := newWatcher(t, s)
	w.Start()
	pids := w.Pids()
	w.Exited(pids[0], 0)
	if w.Status() != Active || !strings.Contains(w.Reason(), "wid 1 exited with status 0 and respawn is off") {
		t.Fatalf("one exited: %v %q", w.Status(), w.Reason())
	}
	// A one-shot that did its work is no warning (the console's reason
	// box was yellow for it); one that failed is.
	if !w.ReasonFine() {
		t.Errorf("ReasonFine false for %q, whose worker exited 0", w.Reason())
	}
	w.Exited(pids[1], 2)
	if w.ReasonFine() {
		t.Errorf("ReasonFine true for %q, whose wid 2 exited 2", w.Reason())
	}
	if w.Status() != Stopped || h.events[len(h.events)-1] != "stop" {
		t.Fatalf("all exited: %v, events %v", w.Status(), h.events)
	}
	w.Start()
	if w.Status() != Active || len(w.Pids()) != 2 {
		t.Fatalf("start again: %v %v", w.Status(), w.Processes())
	}
}

func TestWatchersHaveDistinctIDs(t *testing.T) {
	a, _ := newWatcher(t, spec(1))
	b, _ := newWatcher(t, spec(1))
	if a.ID() == b.ID() || a.Name() != b.Name() {
		t.Fatalf("ids %d %d", a.ID(), b.ID())
	}
}

// A big spawn goes in batches, one per turn of the loop, so commands are
// served in between and a decr during the spawn acts at once.
func TestBigSpawnGoesInBatches(t *testing.T) {
	w, h := newWatcher(t, spec(1))
	w.Start()
	w.SetTarget(100)
	if n := len(w.Pids()); n != 1+spawnBatch {
		t.Fatalf("%d workers after one turn of incr, want 1 + a batch of %d", n, spawnBatch)
	}
	more := h.takeTimers(TimerMore)
	if len(more) != 1 || h.delays[more[0]] != 0 {
		t.Fatalf("continuation timers %v", more)
	}
	w.SetTarget(40) // a decr arrives before the next batch
	w.Fire(more[0])
	if n := len(w.Pids()); n != 40 || !w.Settled() {
		t.Fatalf("after decr and the next turn: %d workers, settled %v", n, w.Settled())
	}
	if extra := h.takeTimers(TimerMore); len(extra) != 0 {
		t.Errorf("needless continuation %v", extra)
	}
}

// The loop's turn has a spawn budget all watchers share: one that finds
// it spent starts no more in this turn and asks for another, as after a
// batch of its own. A restart of 100 watchers of 20 started all 2,000
// workers in one turn, and status waited 5 s.
func TestSpawnsStopWhenTheLoopsTurnIsSpent(t *testing.T) {
	w, h := newWatcher(t, spec(20))
	h.turnLimited, h.turnLeft = true, 5
	w.Start()
	if n := len(w.Pids()); n != 5 {
		t.Fatalf("%d workers after a turn with room for 5", n)
	}
	more := h.takeTimers(TimerMore)
	if len(more) != 1 || h.delays[more[0]] != 0 {
		t.Fatalf("continuation timers %v, want one", more)
	}
	h.turnLeft = 20
	w.Fire(more[0])
	if n := len(w.Pids()); n != 20 || !w.Settled() {
		t.Fatalf("after the next turn: %d workers, settled %v; want 20", n, w.Settled())
	}
}

// Found by the zero-downtime test: a worker that failed its readiness was
// replaced at once and then, at its exit, its slot also waited out a
// backoff: one seat too many, so a rolling reload retired a ready old
// worker while no new one was ready. The failed worker keeps its seat
// until it exits.
func TestFailedReadinessKeepsItsSeatUntilItExits(t *testing.T) {
	s := spec(2)
	s.Readiness = "notify"
	w, h := newWatcher(t, s)
	w.Start()
	first := pidsIn(w, ProcStarting) // wids 1 and 2
	for _, tm := range h.takeTimers(TimerReadyTimeout) {
		if tm.Pid == first[0] {
			w.Fire(tm) // wid 1 misses its ready timeout and drains slowly
		}
	}
	if len(pidsIn(w, ProcStarting)) != 1 {
		t.Fatalf("a replacement started while the failed worker still drains: %v", w.Processes())
	}
	w.Ready(first[1])
	w.Reload(true, false)
	w.Exited(first[0], 0) // the failed one exits at last; its slot backs off
	if st := pidsIn(w, ProcStopping); len(st) > 0 {
		t.Fatalf("ready old worker %v told to stop while no new worker is ready: %v, signals %v", st, w.Processes(), h.signals)
	}
	for _, pid := range pidsIn(w, ProcStarting) {
		w.Ready(pid)
	}
	if st := pidsIn(w, ProcStopping); len(st) != 1 || st[0] != first[1] {
		t.Fatalf("the old worker did not retire once a new one was ready: %v", w.Processes())
	}
	checkWids(t, w, "end")
}
