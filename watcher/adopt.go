package watcher

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/poold/poold/configs"
)

// Handing a watcher over to a new image of poold (an in-place upgrade).
// The state is taken only from a settled watcher (see Frozen): nothing
// starting, stopping or being replaced, so no readiness check, grace
// period or rollout is in flight and the only timers that matter are
// deadlines the new image re-arms from the recorded times: each ready
// worker's max_age, each held slot's backoff or flapping pause, and the
// next health round.

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
	Busy     int       `json:"busy"`
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
}

// State is a watcher as handed to a new image of poold: its spec as
// running (run-time incr, set and add included) and its workers.
type State struct {
	Spec    configs.Watcher `json:"spec"`
	Status  Status          `json:"status"`
	SpecGen int             `json:"spec_gen"`
	Procs   []ProcState     `json:"procs"`
	Slots   []SlotState     `json:"slots"`
}

// Frozen says why w cannot be handed over now, or nil: a watcher is
// handed over only when settled and no hook runs.
func (w *Watcher) Frozen() error {
	if w.Settled() && len(w.hooks) == 0 {
		return nil
	}
	why := "workers are starting, stopping or being replaced"
	switch {
	case w.roll != nil:
		why = "a rolling reload is in flight"
	case w.status == Stopping:
		why = "it is stopping"
	case w.gate != 0 || len(w.hooks) > 0:
		why = "a hook runs"
	}
	return fmt.Errorf("watcher %q: %s; run the upgrade again once it is done", w.spec.Name, why)
}

// Snapshot returns w's state for a new image; now is the snapshot's
// time. Call it only when Frozen returns nil.
func (w *Watcher) Snapshot(now time.Time) State {
	st := State{Spec: w.spec, Status: w.status, SpecGen: w.specGen}
	for _, p := range w.Processes() {
		st.Procs = append(st.Procs, ProcState{Pid: p.Pid, Wid: p.Wid, State: p.State, Started: p.Started,
			Restarts: p.Restarts, Gen: p.Gen, Recycle: p.Recycle, HealthKO: p.healthKO, LimitKO: p.limitKO, Busy: p.busy})
	}
	for wid, s := range w.slots {
		ss := SlotState{Wid: wid, Hold: s.hold, Streak: s.counters.Streak, Pauses: s.counters.Pauses,
			Restarts: s.restarts, LastExit: s.lastExit}
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
	w.spec.NumProcesses = st.Spec.NumProcesses // New set an elastic pool's initial size
	now := w.host.Now()
	for _, ss := range st.Slots {
		s := w.slotFor(ss.Wid)
		s.counters = Counters{Streak: ss.Streak, Pauses: ss.Pauses}
		s.restarts, s.lastExit = ss.Restarts, ss.LastExit
		var until time.Time
		if ss.Hold == HoldBackoff || ss.Hold == HoldPaused {
			until = now.Add(ss.Left)
		}
		w.setHold(s, ss.Hold, until)
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
			Gen: ps.Gen, Recycle: ps.Recycle, gen: w.seq, healthKO: ps.HealthKO, limitKO: ps.LimitKO, busy: ps.Busy}
		w.procs[p.Pid] = p
		if p.State == ProcReady && w.spec.MaxAge > 0 {
			age := w.spec.MaxAge
			if w.spec.MaxAgeVariance > 0 {
				age += time.Duration(rand.Int64N(int64(w.spec.MaxAgeVariance)))
			}
			w.host.After(max(age-now.Sub(p.Started), 0), Timer{Watcher: w.id, Kind: TimerMaxAge, Pid: p.Pid, Wid: p.Wid, Gen: p.gen})
		}
	}
	if w.status == Active || w.status == Starting {
		w.armHealth()
	}
	return nil
}
