package watcher

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/poold/poold/configs"
)

// Handing a watcher over to a new image of poold (an in-place upgrade).
// The state is taken only when nothing is starting (see Frozen): no
// readiness check, rollout or hook is in flight, so the timers that
// matter are deadlines the new image re-arms from the recorded times:
// each ready worker's max_age, each stopping worker's SIGKILL at the end
// of its graceful timeout (a stop or decr goes on in the new image), each
// held slot's backoff or flapping pause, and the next health round.

// ProcState is one worker as handed to a new image of poold.
type ProcState struct {
	Pid      int       `json:"pid"`
	Wid      int       `json:"wid"`
	State    string    `json:"state"`
	Started  time.Time `json:"started"`
	Restarts int       `json:"restarts"`
	Gen      int       `json:"gen"`
	Recycle  bool      `json:"recycle,omitempty"`
	HealthKO int       `json:"health_ko,omitempty"`
	LimitKO  int       `json:"limit_ko,omitempty"`
	// OverAge is its uptime at the first of those LimitKO samples.
	OverAge time.Duration `json:"over_age,omitempty"`
	Busy    int           `json:"busy"`
	// A stopping worker: what is left of its graceful timeout, the grace
	// it was given, whether it was SIGKILLed already, whether its
	// watcher's stop stopped it, why poold stopped it.
	KillIn   time.Duration `json:"kill_in,omitempty"`
	Grace    time.Duration `json:"grace,omitempty"`
	Killed   bool          `json:"killed,omitempty"`
	ByStop   bool          `json:"by_stop,omitempty"`
	Failure  string        `json:"failure,omitempty"`
	FailCode string        `json:"fail_code,omitempty"`
}

// SlotState is one slot's memory (hold, crash counters, restarts).
type SlotState struct {
	Wid      int           `json:"wid"`
	Hold     Hold          `json:"hold,omitempty"`
	Left     time.Duration `json:"left,omitempty"` // until a backoff or pause ends
	Streak   int           `json:"streak,omitempty"`
	Pauses   int           `json:"pauses,omitempty"`
	Restarts int           `json:"restarts,omitempty"`
	LastExit string        `json:"last_exit,omitempty"`
	LastPid  int           `json:"last_pid,omitempty"` // for the reason's "see its output" hint
	BadExit  bool          `json:"bad_exit,omitempty"` // see slot.badExit; an older build hands over none
	// HookFailed: failed by its before_spawn hook, not by flapping
	// (slot.hookFailed); an older build hands over none.
	HookFailed bool `json:"hook_failed,omitempty"`
}

// State is a watcher as handed to a new image of poold: its spec as
// running (run-time incr, set and add included) and its workers.
type State struct {
	Spec    configs.Watcher `json:"spec"`
	Status  Status          `json:"status"`
	SpecGen int             `json:"spec_gen"`
	Procs   []ProcState     `json:"procs"`
	Slots   []SlotState     `json:"slots"`
	// Configured is the numprocesses an elastic pool's spec was given
	// (Spec.NumProcesses is its size in force); absent from an image
	// that did not keep it apart.
	Configured *int `json:"configured,omitempty"`
	// Scale is an elastic pool's scale history and clocks (elastic.go);
	// absent from an image that did not hand them over.
	Scale *ScaleState `json:"scale,omitempty"`
	// Started: a start ran it (see Watcher.Started); an image that did
	// not hand it over leaves it false, and a watcher not stopped counts
	// as started.
	Started bool `json:"started,omitempty"`
	// RestartLog is its restart tally and Owed the counts owed to the
	// replacements of recycled workers (restartcount.go); absent from an
	// image that kept none.
	RestartLog *Restarts `json:"restart_log,omitempty"`
	Owed       []int     `json:"owed,omitempty"`
	// RollLeft: the pids of a finished rollout's old workers still
	// draining (Watcher.rollLeft), so that the new image says the
	// reload is done once they are gone; an older image hands over none.
	RollLeft []int `json:"roll_left,omitempty"`
}

// Frozen says why w cannot be handed over now, or nil: a watcher is
// handed over only when settled and no hook runs.
func (w *Watcher) Frozen() error {
	why := ""
	switch {
	case w.roll != nil:
		why = "a rolling reload is in flight" + w.drainHold()
	case w.gate != 0 || len(w.hooks) > 0:
		why = "a hook runs"
	case w.startAfter:
		why = "a start waits for its stop to finish"
	case w.warmup != 0 || w.more != 0:
		why = "workers are about to start"
	}
	for _, p := range w.procs {
		if why == "" && p.State == ProcStarting {
			why = "workers are starting (not ready yet)"
		}
	}
	for _, s := range w.slots {
		if why == "" && (s.hold == HoldDue || s.hold == HoldHook || s.hold == HoldLookup) {
			why = "workers are about to start"
		}
	}
	if why == "" {
		return nil
	}
	return fmt.Errorf("watcher %q: %s", w.spec.Name, why)
}

// drainHold words what holds a rolling reload when old workers still
// drain (long connections): they count against max_surge, so the reload
// starts no new worker until they end, at most graceful_timeout after
// their stop; "" when none drains.
func (w *Watcher) drainHold() string {
	n := 0
	for _, p := range w.procs {
		if p.State == ProcStopping {
			n++
		}
	}
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" and waits for %d old workers still draining (they count against max_surge = %d; they end at the latest graceful_timeout = %s after their stop)",
		n, w.surge(), w.spec.GracefulTimeout)
}

// Snapshot returns w's state for a new image; now is the snapshot's
// time. Call it only when Frozen returns nil.
func (w *Watcher) Snapshot(now time.Time) State {
	conf := w.conf
	st := State{Spec: w.spec, Status: w.status, SpecGen: w.specGen, Configured: &conf, Scale: w.scaleState(), Started: w.started,
		Owed: slices.Clone(w.owed)}
	if r := w.Restarts(); r.Total() > 0 {
		st.RestartLog = &r
	}
	for pid := range w.rollLeft {
		st.RollLeft = append(st.RollLeft, pid)
	}
	slices.Sort(st.RollLeft)
	for _, p := range w.Processes() {
		ps := ProcState{Pid: p.Pid, Wid: p.Wid, State: p.State, Started: p.Started,
			Restarts: p.Restarts, Gen: p.Gen, Recycle: p.Recycle, HealthKO: p.healthKO, LimitKO: p.limitKO, OverAge: p.overAge, Busy: p.busy,
			Grace: p.grace, Killed: p.killed, ByStop: p.byStop, Failure: p.failure, FailCode: p.failCode}
		if p.State == ProcStopping && !p.killAt.IsZero() {
			ps.KillIn = max(p.killAt.Sub(now), 0)
		}
		st.Procs = append(st.Procs, ps)
	}
	for wid, s := range w.slots {
		ss := SlotState{Wid: wid, Hold: s.hold, Streak: s.counters.Streak, Pauses: s.counters.Pauses,
			Restarts: s.restarts, LastExit: s.lastExit, LastPid: s.lastPid, BadExit: s.badExit, HookFailed: s.hookFailed}
		if !s.until.IsZero() {
			ss.Left = max(s.until.Sub(now), 0)
		}
		st.Slots = append(st.Slots, ss)
	}
	return st
}

// Adopt takes over the workers of st, already watched by the host (their
// exits come through Ended), and re-arms the deadlines: max_age of each
// ready worker from its start, backoff and pauses from what was left,
// health rounds. w must be new (stopped, no workers).
func (w *Watcher) Adopt(st State) error {
	if len(w.procs) != 0 || w.status != Stopped {
		return errors.New("watcher: Adopt on a watcher that already runs")
	}
	defer w.settle()
	w.status, w.specGen = st.Status, st.SpecGen
	w.started = st.Started || st.Status != Stopped
	w.spec.NumProcesses = st.Spec.NumProcesses // New set an elastic pool's initial size
	if st.Configured != nil {
		w.conf = *st.Configured // New took the size in force for it
	}
	w.adoptScale(st.Scale)
	if st.RestartLog != nil {
		w.restartLog = *st.RestartLog
	}
	w.owed = slices.Clone(st.Owed)
	now := w.host.Now()
	for _, ss := range st.Slots {
		s := w.slotFor(ss.Wid)
		w.setCounters(s, Counters{Streak: ss.Streak, Pauses: ss.Pauses})
		s.restarts, s.lastExit, s.lastPid, s.badExit = ss.Restarts, ss.LastExit, ss.LastPid, ss.BadExit
		var until time.Time
		if ss.Hold == HoldBackoff || ss.Hold == HoldPaused {
			until = now.Add(ss.Left)
		}
		w.setHold(s, ss.Hold, until)
		s.hookFailed = ss.HookFailed && ss.Hold == HoldFailed
		switch ss.Hold {
		case HoldBackoff:
			w.host.After(ss.Left, Timer{Watcher: w.id, Kind: TimerRespawn, Wid: ss.Wid, Gen: s.epoch})
		case HoldPaused:
			w.host.After(ss.Left, Timer{Watcher: w.id, Kind: TimerFlapRetry, Wid: ss.Wid, Gen: s.epoch})
		}
	}
	for _, ps := range st.Procs {
		w.seq++
		p := &Process{Pid: ps.Pid, Wid: ps.Wid, State: ps.State, Started: ps.Started, Restarts: ps.Restarts,
			Gen: ps.Gen, Recycle: ps.Recycle, gen: w.seq, healthKO: ps.HealthKO, limitKO: ps.LimitKO, overAge: ps.OverAge, busy: ps.Busy,
			grace: ps.Grace, killed: ps.Killed, byStop: ps.ByStop, failure: ps.Failure, failCode: ps.FailCode}
		w.addProc(p)
		w.armSurvival(p, now)
		if p.State == ProcStopping && !p.killed {
			// The graceful stop goes on: SIGKILL at its deadline.
			p.killAt = now.Add(ps.KillIn)
			w.host.After(ps.KillIn, Timer{Watcher: w.id, Kind: TimerKill, Pid: p.Pid, Wid: p.Wid, Gen: p.gen})
		}
		if p.State == ProcReady {
			w.armMaxAge(p, now.Sub(p.Started))
		}
	}
	for _, pid := range st.RollLeft {
		if p := w.procs[pid]; p != nil && p.State == ProcStopping {
			if w.rollLeft == nil {
				w.rollLeft = map[int]bool{}
			}
			w.rollLeft[pid] = true
		}
	}
	if w.status == Active || w.status == Starting {
		w.armHealth()
	}
	return nil
}
