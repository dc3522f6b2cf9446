package watcher

import (
	"fmt"
	"slices"
	"syscall"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
)

// rollout is a rolling replacement of every worker (reload, or a config
// change that affects how workers start): it remembers what the old
// workers run, to come back to it if a new worker fails.
//
// Workers replaced one by one (max_age, failed health checks, resource
// limits) take the same path without a rollout: they are marked Recycle,
// and reconcile treats both kinds alike as "old".
type rollout struct {
	prev      configs.Watcher
	prevSocks Sockets
	prevCred  *syscall.Credential
	prevGen   int
	surge     int // overrides max_surge (sequential reload); 0: the spec's
	// count is the number of workers before the first spec change of the
	// rollout, and target the one its spec changes (reload, set) gave
	// last: an abandoned rollout goes back to count unless numprocesses
	// moved since (incr, decr during the rollout), which then stays.
	count, target int
	// batches is how many batches of old workers it stopped so far, and
	// lastBatch how many the last one had (rollBatch).
	batches, lastBatch int
	// announce: a reload command's rollout, whose end publishes reload
	// (Circus's event); began is when it was asked for.
	announce bool
	began    time.Time
}

// old reports whether p is due for replacement.
func (w *Watcher) old(p *Process) bool { return p.Gen != w.specGen || p.Recycle }

// beginRoll starts a new spec generation: every current worker becomes
// old. A rollout already in flight keeps its original fallback.
func (w *Watcher) beginRoll(prev configs.Watcher, prevSocks Sockets, prevCred *syscall.Credential) {
	if w.roll == nil {
		w.roll = &rollout{prev: prev, prevSocks: prevSocks, prevCred: prevCred, prevGen: w.specGen,
			count: prev.NumProcesses, target: w.spec.NumProcesses}
	} else {
		w.rollAgain()
	}
	w.roll.surge = 0
	w.owed = nil // a deploy starts the counts again
	w.reloadErr = nil
	w.specGen++
	w.recount()
}

// rollAgain says that a reload (or a change that rolls the workers over)
// came while a rollout ran: the new workers of the one in flight become
// old in turn, and those not ready yet are stopped at once (their exit
// events read "killed by signal TERM", which looked like a crash while
// the log said nothing of why: r64 overlap trial).
func (w *Watcher) rollAgain() {
	var unready []int
	ready := 0
	for pid, p := range w.procs {
		if p.Gen != w.specGen || p.Recycle {
			continue
		}
		switch p.State {
		case ProcStarting:
			unready = append(unready, pid)
		case ProcReady:
			ready++
		}
	}
	slices.Sort(unready)
	w.log.Info("rolling reload started again before the one in flight finished: its new workers not ready yet are stopped, "+
		"and its ready ones are replaced as the older workers are", "unready_stopped", unready, "ready_replaced", ready)
}

// endRoll ends a rollout; err != nil records why it was abandoned.
// What the rollout owed (a kill or a recycle during it) goes: freshCount
// gives nothing owed to a start during a rollout, so no replacement took
// it, and a later start in a free wid (a scale-up's) is none's.
func (w *Watcher) endRoll(err error) {
	for _, s := range w.slots {
		s.diedInRoll = false
	}
	w.roll = nil
	w.owed = nil
	if err != nil {
		w.reloadErr = err
	}
}

// rollBatch says that a rollout's batch of new workers is ready and the
// old workers pids told to stop, left old ones still serving: one line
// per batch, so that a rollout in several (max_surge below 100 %) shows
// each stop, not only its last.
func (w *Watcher) rollBatch(pids []int, left int) {
	if w.roll == nil || len(pids) == 0 {
		return
	}
	w.roll.batches++
	w.roll.lastBatch = len(pids)
	slices.Sort(pids)
	w.log.Info("rolling reload: new workers ready, stopping the old ones", "old", len(pids),
		"graceful_timeout", w.spec.GracefulTimeout, "batch", w.roll.batches, "old_left", left, "pids", pids)
}

// rollStopping notes that rollout r is over: its new workers are ready
// and its old ones told to stop (those stopping now). The reload is done
// once they are gone (rollGone), up to graceful_timeout later; when more
// drain than the last batch stopped (earlier batches', or old workers
// stopped outside a batch), it says how many and for how long at most.
func (w *Watcher) rollStopping(r *rollout) {
	w.rollLeft = map[int]bool{}
	for pid, p := range w.procs {
		if p.State == ProcStopping {
			w.rollLeft[pid] = true
		}
	}
	if len(w.rollLeft) == 0 {
		w.rollLeft = nil
		w.log.Info("rolling reload done")
		return
	}
	if len(w.rollLeft) != r.lastBatch {
		w.log.Info("rolling reload: every new worker ready, old ones still draining", "draining", len(w.rollLeft),
			"killed_in_at_most", w.lastKillIn(w.rollLeft))
	}
}

// lastKillIn is how long the last of pids, workers being stopped, may
// still drain: the time to the latest of their SIGKILLs.
func (w *Watcher) lastKillIn(pids map[int]bool) time.Duration {
	var last time.Time
	for pid := range pids {
		if p := w.procs[pid]; p != nil && p.KillAt().After(last) {
			last = p.KillAt()
		}
	}
	if last.IsZero() {
		return 0
	}
	return max(last.Sub(w.host.Now()), 0).Round(time.Millisecond)
}

// rollGone notes that p has ended: the last old worker of a rollout to go
// ends it.
func (w *Watcher) rollGone(p *Process) {
	if !w.rollLeft[p.Pid] {
		return
	}
	delete(w.rollLeft, p.Pid)
	if len(w.rollLeft) == 0 {
		w.rollLeft = nil
		w.log.Info("rolling reload done: the old workers are gone")
	}
}

// newInRoll reports whether p is a new worker of a rollout in flight.
func (w *Watcher) newInRoll(p *Process) bool {
	return w.roll != nil && p.Gen == w.specGen && !p.Recycle
}

// abortRoll abandons a rollout: the new workers stop, the old spec comes
// back, the old workers keep serving and the reason is told. A
// singleton's old worker had stopped first (surge): one with the old
// spec starts again, and the reason says so rather than that it serves.
func (w *Watcher) abortRoll(err error) {
	r := w.roll
	n := w.spec.NumProcesses
	if n == r.target {
		// The count the abandoned spec brought goes with it.
		n = r.count
	}
	kept := "the old workers keep serving"
	if serving := w.oldServing(); w.spec.Singleton {
		kept = "its old worker had stopped first (singleton): one with the previous settings starts again"
	} else if serving < n {
		// One died meanwhile (r64 overlap trial: the reason said they
		// all served while one slot was being refilled).
		kept = fmt.Sprintf("the old workers keep serving (%d of %d; the rest start again with the previous settings)", serving, n)
	}
	w.log.Error("rolling reload abandoned; "+kept, "error", err)
	w.countRollDeaths()
	w.host.Publish(w.spec.Name, events.KindReloadFailed, map[string]any{"reason": err.Error()})
	for _, p := range w.procs {
		if w.newInRoll(p) {
			w.retire(p)
		}
	}
	// Was it of a new spec? Not a reload of the same one, whose count
	// an incr may have moved meanwhile.
	was := r.prev
	was.NumProcesses = w.spec.NumProcesses
	refused := Compare(was, w.spec).Any() || !SameFiles(r.prevSocks.Files, w.socks.Files)
	w.spec, w.socks, w.cred, w.specGen = r.prev, r.prevSocks, r.prevCred, r.prevGen
	w.recount()
	w.spec.NumProcesses = n
	w.policy = policyOf(w.spec)
	w.endRoll(fmt.Errorf("reload of watcher %q abandoned, %s: %w", w.spec.Name, kept, err))
	w.refusedSpec = refused
}

// oldServing counts the workers of a rollout's previous settings that
// serve: ready, and not being stopped.
func (w *Watcher) oldServing() int {
	n := 0
	for _, p := range w.procs {
		if !w.newInRoll(p) && p.State == ProcReady {
			n++
		}
	}
	return n
}

// surge is how many workers beyond the target may run during a
// replacement (draining ones included): at least 1, but none for a
// singleton, whatever replaces it (max_age, health, limits, a reload, a
// set or config change that rolls it over): its new worker waits for the
// old one's exit, as circusd's reload_from_config stops a changed watcher
// before it starts it again.
func (w *Watcher) surge() int {
	if w.spec.Singleton {
		return 0
	}
	if w.roll != nil && w.roll.surge > 0 {
		return w.roll.surge
	}
	return w.spec.MaxSurge.Of(w.spec.NumProcesses)
}

// Rolling reports whether a rolling replacement of the workers is under
// way (a reload, a change of how workers start): it may still be
// abandoned (ReloadError).
func (w *Watcher) Rolling() bool { return w.roll != nil }

// countRollDeaths counts, as the rollout is abandoned, a restart for each
// slot whose old worker ended on its own during it: the old spec's worker
// poold starts there again was not asked for, as after any death.
func (w *Watcher) countRollDeaths() {
	for _, s := range w.slots {
		if s.diedInRoll {
			s.restarts++
			w.countRestart(restartCause(s.lastCode, s.lastExit), s.wid, s.lastPid, s.lastExit)
		}
	}
}
