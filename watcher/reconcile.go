package watcher

import (
	"fmt"
	"sort"

	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher/spawn"
)

// maxSteps bounds one reconcile. Each step either changes something or
// reports that it had nothing to do, and every change moves the pool
// towards its target, so a handful of rounds suffice; the bound only
// turns a bug into a log line instead of a frozen loop.
const maxSteps = 64

// spawnErrorPrefix starts the last exit of a slot whose worker could not
// be spawned at all.
const spawnErrorPrefix = "spawn error: "

// reconcile brings the pool towards its target, step by step, until no
// step changes anything:
//
//  1. trim: too many workers for the target (scale down): drop waiting
//     slots, then retire workers, starting (not yet ready) ones first,
//     then the oldest, as circusd does;
//  2. respawn the slots that are due, each in its own wid;
//  3. fill: spawn into the lowest free wids of 1..target+surge;
//  4. retire old workers as new ones are ready to take their place, so
//     serving capacity never drops below the target;
//  5. note what is done: a finished rollout, a watcher now active, or one
//     whose workers all exited with respawn off.
func (w *Watcher) reconcile() {
	for i := 0; i < maxSteps; i++ {
		if w.status != Active && w.status != Starting || w.gate != 0 {
			return
		}
		c := w.census()
		changed := w.trim(c) || w.spawnDue() || w.fill(c) || w.retireOld(c) || w.note(c)
		w.finishSpawn()
		if !changed {
			return
		}
	}
	w.log.Error("reconcile did not settle; the safety-net tick will try again", "steps", maxSteps)
}

// spawnBatch is how many workers a watcher starts in one turn of the loop.
// A bigger spawn goes on in later turns, so the loop answers commands in
// between (a decr or stop issued during `incr 1500` acts at once) and
// never freezes for the seconds a thousand forks take.
const spawnBatch = 32

// maySpawn reports whether another spawn fits in this turn; once the batch
// is used up it asks the loop for another turn and says no.
func (w *Watcher) maySpawn() bool {
	switch {
	case w.more != 0 || w.warmup != 0:
		return false
	case w.spawned < spawnBatch && w.host.SpawnTurn():
		return true
	}
	w.seq++
	w.more = w.seq
	w.host.After(0, Timer{Watcher: w.id, Kind: TimerMore, Gen: w.more})
	return false
}

// census counts the pool: current workers (the spec in force), old ones
// (due for replacement) and held slots. It runs on every event, so it
// reads the tally rather than walk the workers (10,000 at 10,000 workers);
// it lists the old ones only when there are some, and trim lists the
// current ones when it needs them.
type census struct {
	cur      int
	old      []*Process
	readyCur int
	held     int
	// coming is how many of the held slots are about to have a worker:
	// their before_spawn hook runs, or they are due to start now. They
	// keep a seat (fill starts no other worker for it), but no worker
	// serves there yet: retireOld counts them as starting, not ready.
	coming int
}

// kindOf sorts a live worker for the census.
func (w *Watcher) kindOf(p *Process) procKind {
	switch {
	case p.State == ProcStopping && p.failure != "":
		// Stopped for failing its readiness: it keeps its seat until it
		// exits, then its slot backs off. A replacement started now
		// would make one seat too many once the slot waits.
		return kindHeld
	case p.State == ProcStopping:
		return kindGone
	case w.old(p):
		return kindOld
	}
	return kindCur
}

type procKind int

const (
	kindCur  procKind = iota // of the spec in force, not stopping
	kindOld                  // due for replacement
	kindHeld                 // stopping, but keeps its seat
	kindGone                 // stopping
)

func (w *Watcher) census() census {
	t := &w.tally
	c := census{cur: t.kinds[kindCur], readyCur: t.readyCur, held: t.kinds[kindHeld] + w.heldCount(),
		coming: w.holdN[HoldHook] + w.holdN[HoldDue] + w.holdN[HoldLookup]}
	if t.kinds[kindOld] > 0 {
		c.old = make([]*Process, 0, t.kinds[kindOld])
		for _, p := range w.procs {
			if w.kindOf(p) == kindOld {
				c.old = append(c.old, p)
			}
		}
	}
	return c
}

// trim retires workers and drops waiting slots beyond the target.
func (w *Watcher) trim(c census) bool {
	extra := c.cur + c.held - w.spec.NumProcesses
	if extra <= 0 {
		return false
	}
	for _, wid := range w.holds() {
		if extra == 0 {
			return true
		}
		w.setHold(w.slots[wid], HoldNone, w.host.Now())
		extra--
	}
	cur := make([]*Process, 0, c.cur)
	for _, p := range w.procs {
		if w.kindOf(p) == kindCur {
			cur = append(cur, p)
		}
	}
	sort.Slice(cur, func(i, j int) bool {
		a, b := cur[i], cur[j]
		if (a.State == ProcStarting) != (b.State == ProcStarting) {
			return a.State == ProcStarting
		}
		// The oldest first, as circusd scales down.
		if !a.Started.Equal(b.Started) {
			return a.Started.Before(b.Started)
		}
		return a.Wid > b.Wid
	})
	for _, p := range cur[:min(extra, len(cur))] {
		w.retire(p)
	}
	return true
}

// spawnDue starts the slots whose wait is over, each in its own wid.
func (w *Watcher) spawnDue() bool {
	if len(w.due) == 0 {
		return false
	}
	// The due wids, not a walk of every slot on every event.
	due := make([]int, 0, len(w.due))
	for wid := range w.due {
		due = append(due, wid)
	}
	sort.Ints(due)
	changed := false
	for _, wid := range due {
		if !w.maySpawn() {
			break
		}
		w.spawnAt(wid)
		changed = true
	}
	return changed
}

// fill spawns missing workers into the lowest free wids. A wid is free
// when no live process (draining ones included) and no waiting slot holds
// it. The spawns stop at target+surge workers (seats): that bounds how
// many workers run at once during a replacement. It is a count, not the
// range of wids 1..target+surge: after a reload with a bigger surge the
// workers hold the wids above the target, every wid below is free, and
// the range let a smaller surge start the whole pool at once. Taking the
// lowest free wid within the count keeps the wids in that range too.
func (w *Watcher) fill(c census) bool {
	need := min(w.spec.NumProcesses-c.cur-c.held, w.room())
	if need <= 0 || w.more != 0 || w.warmup != 0 {
		// Nothing to start, or not in this turn (maySpawn would say no
		// at the first free wid): skip the O(workers) walk of the wids,
		// which every event of a big spawn paid again.
		return false
	}
	if w.spec.Singleton && len(w.procs) > 0 {
		// A singleton's replacement waits for the last of its processes
		// to end, whatever its wid (one adopted from an older image may
		// run in wid 2, and wid 1 is free).
		return false
	}
	roll := w.roll
	changed := false
	passed := true // every wid so far is taken: freeFrom may move on
	for wid := w.freeFrom; wid <= w.spec.NumProcesses+w.surge() && need > 0; wid++ {
		if w.taken(wid) {
			if passed {
				w.freeFrom = wid + 1
			}
			continue
		}
		passed = false
		if !w.maySpawn() {
			break
		}
		w.freshCount(w.slotFor(wid))
		w.spawnAt(wid)
		need--
		changed = true
		if w.roll != roll {
			break // the rollout was abandoned: count again
		}
	}
	return changed
}

// room is how many more workers may start beside those that run
// (draining ones included) and the slots that keep a seat without one:
// target+surge in all (README, max_surge).
func (w *Watcher) room() int {
	return w.spec.NumProcesses + w.surge() - len(w.procs) - w.heldCount() - len(w.inflight)
}

// retireOld stops old workers as new ones become ready: recycled ones
// first, then the highest wids. In a rollout it waits for the whole batch
// (see batchPending). Only a ready old worker serves, so only it counts
// as capacity: an old one still starting (the new workers of a reload
// that another reload overtook) stops at once, and never in place of one
// that serves. Nor does a slot whose worker is still to come (its
// before_spawn hook runs, or it is due): with such a hook, every new
// worker starts in one, and counting it as serving stopped the old
// workers before any new one existed.
func (w *Watcher) retireOld(c census) bool {
	if len(c.old) == 0 {
		return false
	}
	if w.spec.Singleton {
		// It never runs twice: the old one stops first, and fill starts
		// the new one once it is gone (a rollout of it is stop, start).
		for _, p := range c.old {
			w.retire(p)
		}
		return true
	}
	ready := c.old[:0:0]
	changed := false
	for _, p := range c.old {
		if p.State == ProcReady {
			ready = append(ready, p)
			continue
		}
		w.retire(p)
		changed = true
	}
	serving := len(ready) + c.readyCur + c.held - c.coming
	if serving <= w.spec.NumProcesses || w.batchPending(c) {
		return changed
	}
	sort.Slice(ready, func(i, j int) bool {
		a, b := ready[i], ready[j]
		if a.Recycle != b.Recycle {
			return a.Recycle
		}
		return a.Wid > b.Wid
	})
	var batch []int
	for n := serving - w.spec.NumProcesses; n > 0 && len(ready) > 0; n-- {
		w.retire(ready[0])
		batch = append(batch, ready[0].Pid)
		ready = ready[1:]
	}
	w.rollBatch(batch, len(ready))
	return true
}

// batchPending reports whether a rollout's batch of new workers is still
// coming up: one is starting, or more are due to be spawned in a later
// turn, or a slot of the batch waits for its before_spawn hook or is due
// to start. Its old workers then stop together once the batch is ready. One
// by one, each would close its kept-alive connections while the others
// still accept: a client reconnecting at that moment often lands on one
// of them and loses its connection again when that one stops. Workers
// replaced outside a rollout (max_age, health, limits) go one by one.
func (w *Watcher) batchPending(c census) bool {
	if w.roll == nil {
		return false
	}
	if c.cur > c.readyCur || c.coming > 0 {
		return true
	}
	return c.cur+c.held < w.spec.NumProcesses && (w.more != 0 || w.warmup != 0 || len(w.due) > 0)
}

// note records what the census says is done.
func (w *Watcher) note(c census) bool {
	// A slot whose before_spawn hook runs, or due to start now, is about
	// to have a worker: a start or rollout is not done before it does.
	full := c.readyCur+c.held == w.spec.NumProcesses && c.coming == 0
	switch {
	case w.roll != nil && len(c.old) == 0 && full:
		if w.roll.announce {
			w.publishReload(w.roll.began)
		}
		r := w.roll
		w.endRoll(nil)
		w.rollStopping(r)
		return true
	case w.status == Starting && full:
		w.status = Active
		// The start is done once after_start is (systemd's
		// ExecStartPost=): a failure stops the watcher, and says why.
		w.afterStartGen++
		gen := w.afterStartGen
		w.afterStart = w.hook("after_start", 0, 0, nil, func(err error) {
			if gen != w.afterStartGen {
				return // a stop came first: this start is over
			}
			w.afterStart = false
			if err != nil && (w.status == Active || w.status == Starting) {
				w.log.Warn("stopping: the after_start hook failed", "error", err)
				w.stop(false)
				w.startErr = fmt.Errorf("the after_start hook failed: %w", err)
			}
		})
		return true
	case len(w.procs) == 0 && w.allExited():
		w.status = Stopped
		w.ranOut = true
		if w.spec.Respawn {
			w.log.Info("every worker has exited with a status listed in no_respawn_exit_codes; the watcher is stopped")
		} else if w.exitedBadly() {
			w.log.Warn("every worker has exited and respawn is off, some of them badly; the watcher is stopped")
		} else { // a one-shot that ended as configured: no cause to warn of
			w.log.Info("every worker has exited and respawn is off; the watcher is stopped")
		}
		w.host.Publish(w.spec.Name, events.KindStop, nil)
		return true
	}
	return false
}

// allExited reports whether every slot of the target exited with respawn
// off.
func (w *Watcher) allExited() bool {
	n := 0
	for _, s := range w.slots {
		if s.hold != HoldExited {
			if s.hold != HoldNone {
				return false
			}
			continue
		}
		n++
	}
	return n > 0 && n >= w.spec.NumProcesses
}

// spawnAt starts a worker in wid. A spawn that fails is the slot's early
// death, or, for a new worker of a rollout, the end of that rollout.
//
// The host forks while the watcher goes on: up to spawnAhead starts are
// in flight, each finished (its pid recorded, or its failure handled),
// in the order they began, once spawnAhead more have begun, or at the
// end of the reconcile step. Preparing a worker (its spec, its cgroup)
// so overlaps the forks of the ones before, and the loop does not wait
// for the spawner's thread on every start. Where the next start depends
// on how this one went (a rollout, which a failure abandons; a
// warmup_delay, which holds back the next), it is finished at once.
func (w *Watcher) spawnAt(wid int) {
	w.spawned++
	s := w.slotFor(wid)
	if w.gateSpawn(s) {
		return
	}
	spec, err := w.procSpec(wid)
	if w.gateLookup(s, err) {
		// The before_spawn hook, if any, passed for this start: the
		// start after the lookup must not run it again.
		s.hookPassed = w.spec.Hooks["before_spawn"] != ""
		return
	}
	finish := func() (int, error) { return 0, err }
	if err == nil {
		finish = w.host.Spawn(w, wid, spec)
	}
	w.inflight = append(w.inflight, pendingSpawn{slot: s, finish: finish})
	for len(w.inflight) > spawnAhead {
		w.finishFirst()
	}
	if w.roll != nil || w.spec.WarmupDelay > 0 {
		w.finishSpawn()
	}
}

// spawnAhead is how many starts may be in flight once spawnAt returns.
// One more than that are begun when the oldest is finished, which the
// spawner's queue (spawn.Begin) takes without blocking. Finishing a
// start waits until its worker's program is exec'd (the exec step's
// status pipe), which under load can take longer than the next forks: with
// two in flight, the spawner's thread sat idle, waiting for the loop,
// for about a fifth of a burst of 100 kill -9s among 10,000 workers
// (poold-bench tenk with stage timestamps: 83 of 442 ms); with eight, 43
// of 542 ms. Each start in flight holds a few fds (its cgroup's, its
// status pipe, its output pipes).
const spawnAhead = 8

// pendingSpawns are the starts in flight, oldest first.
type pendingSpawns []pendingSpawn

// pendingSpawn is a start the host has begun.
type pendingSpawn struct {
	slot   *slot
	finish func() (int, error)
}

// finishSpawn finishes every start in flight, oldest first.
func (w *Watcher) finishSpawn() {
	for len(w.inflight) > 0 {
		w.finishFirst()
	}
}

// finishFirst finishes the oldest start in flight.
func (w *Watcher) finishFirst() {
	f := w.inflight[0]
	n := copy(w.inflight, w.inflight[1:]) // a few: no allocation per start
	w.inflight[n] = pendingSpawn{}
	w.inflight = w.inflight[:n]
	s, wid := f.slot, f.slot.wid
	pid, err := f.finish()
	if err != nil {
		err = w.explainSpawn(wid, err)
		w.lastSpawnErr = err
		w.host.Publish(w.spec.Name, events.KindSpawnError, map[string]any{"process_id": wid, "reason": err.Error()})
		if w.roll != nil {
			w.setHold(s, HoldNone, w.host.Now())
			s.lastExit, s.lastPid = spawnErrorPrefix+err.Error(), 0
			w.abortRoll(fmt.Errorf("cannot start a new worker (wid %d): %w", wid, err))
			return
		}
		s.badExit = true
		shared := ""
		if spawn.Lacked(err) {
			shared = sharedLack
		}
		w.died(s, 0, 0, spawnErrorPrefix+err.Error(), true, false, shared) // pid 0: no output to point to
		return
	}
	w.lastSpawnErr = nil
	w.setHold(s, HoldNone, w.host.Now())
	w.seq++
	p := &Process{Pid: pid, Wid: wid, State: ProcStarting, Started: w.host.Now(), Gen: w.specGen, Restarts: s.restarts, gen: w.seq, busy: -1}
	w.addProc(p)
	w.host.Publish(w.spec.Name, events.KindSpawn, map[string]any{"process_pid": pid, "process_id": wid})
	w.notifyHook("after_spawn", pid, wid, nil, nil)
	w.armSurvival(p, p.Started)
	w.watchReady(p)
	if w.spec.WarmupDelay > 0 {
		w.seq++
		w.warmup = w.seq
		w.host.After(w.spec.WarmupDelay, Timer{Watcher: w.id, Kind: TimerWarmup, Gen: w.warmup})
	}
}
