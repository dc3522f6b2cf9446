package watcher

import (
	"fmt"
	"math"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
)

// Load is one reading of an elastic pool's demand, taken off the loop by
// the arbiter and handed to Demand on it.
type Load struct {
	// Queue is the number of connections waiting to be accepted, summed
	// over the watcher's sockets.
	Queue int
	// Conns is the number of connections open on them (accepted or not);
	// -1 when it cannot be read (unix sockets), and then only Queue tells
	// whether the pool is idle.
	Conns int
	// Counted: Conns was counted at this reading, just after Queue was
	// read. Each connection Queue saw waiting is then either still open,
	// and counted, or was accepted, answered and closed in between: fewer
	// open than waiting means the queue drained, where a count from an
	// earlier reading that is lower than the queue tells nothing of it.
	Counted bool
	// Socket names the socket whose connection woke a cold pool ("" for a
	// periodic reading).
	Socket string
	// Arrived: a connection came since the last reading, though it may
	// have been accepted before this one (a pool read at its quiet pace
	// is woken by the first connection that waits), or connections open
	// at the last count closed since: the pool is not idle.
	Arrived bool
	// Busy is how many workers said BUSY=N with N > 0 in their last
	// report; Reported whether any worker reports at all. Demand fills
	// them in.
	Busy     int
	Reported bool
}

// Size is an elastic watcher's size and its last decision, for status,
// the console and /metrics.
type Size struct {
	Elastic  bool
	OnDemand bool
	Current  int // the size in force (numprocesses)
	Ready    int // workers ready, of any spec: those serving (set by Size)
	Min, Max int
	Queue    int // the last accept-queue reading
	Busy     int // workers busy at the last reading (BUSY=N, N > 0)
	// Last is the last change of size: From, To, Reason, At. Zero before
	// the first one.
	From, To int
	Reason   string
	At       time.Time
	Count    int // changes of size since the watcher was created
	Ups      int // of which growths
	Downs    int // of which shrinks
}

// scaler is the autoscaling policy's memory: a pure type, fed readings
// and asked for a size, with the time given (decide).
type scaler struct {
	primed  bool
	changed time.Time // the last change of size, by poold or by the user
	above   time.Time // the last reading with the queue above its target
	active  time.Time // the last reading with a connection waiting or open
	// overRun counts the readings in a row with the queue above its
	// target: one alone is a connection caught between handshake and
	// accept, which a trickle served at once shows now and then; growing
	// on it, and shrinking back after the cooldown, replaced warm
	// workers for nothing.
	overRun int
}

// decide returns the size the pool should have after reading l at now,
// and why; to == cur means no change. gated: a worker is still starting,
// or a slot waits after an early death; the pool then does not grow
// further (growth is readiness-gated, and a crashing worker is the crash
// policy's business, not a reason to start more of it).
func (s *scaler) decide(spec configs.Watcher, cur int, now time.Time, l Load, gated bool) (to int, reason string) {
	if !s.primed {
		s.primed = true
		s.changed, s.above, s.active = now, now, now
	}
	if l.Queue > 0 || l.Conns > 0 || l.Busy > 0 || l.Arrived {
		s.active = now
	}
	share := spec.ScaleBusyTarget / 100
	useBusy := share > 0 && l.Reported
	busyOver := useBusy && float64(l.Busy) > share*float64(cur)
	queueOver := l.Queue > spec.ScaleQueueTarget
	if queueOver || busyOver {
		s.above = now
	}
	if queueOver {
		s.overRun++
	} else {
		s.overRun = 0
	}
	// The queue grows the pool once it stayed over the target, and only
	// by the connections no idle worker is there to take.
	byQueue := queueOver && s.overRun >= 2 && unserved(spec, cur, l) > 0
	// A shrink must leave the smaller pool at or below the busy target.
	fits := !useBusy || float64(l.Busy) <= share*float64(cur-spec.ScaleDownStep)
	lo, hi := spec.Bounds()
	// The queue rule never takes the last worker: an empty queue says
	// nothing of the connections a worker holds. 0 is idle_timeout's.
	floor := max(lo, 1)
	switch {
	case cur == 0 && l.Queue > 0 && hi > 0:
		if l.Socket != "" {
			return spec.WakeSize(), fmt.Sprintf("on demand: a connection is waiting on socket %s", l.Socket)
		}
		return spec.WakeSize(), fmt.Sprintf("on demand: %d connection(s) waiting", l.Queue)
	case (byQueue || busyOver) && cur < hi && !gated && now.Sub(s.changed) >= spec.ScaleUpCooldown:
		to := min(hi, cur+upBy(spec, cur, l, byQueue, busyOver))
		if byQueue {
			return to, fmt.Sprintf("accept queue %d above target %d", l.Queue, spec.ScaleQueueTarget)
		}
		return to, fmt.Sprintf("%d of %d workers busy, above %g%%", l.Busy, cur, spec.ScaleBusyTarget)
	case spec.IdleTimeout > 0 && cur > lo && now.Sub(s.active) >= spec.IdleTimeout:
		return lo, fmt.Sprintf("idle: no connection for %v", spec.IdleTimeout)
	case cur > floor && fits && now.Sub(s.above) >= spec.ScaleDownCooldown && now.Sub(s.changed) >= spec.ScaleDownCooldown:
		return max(floor, cur-spec.ScaleDownStep), fmt.Sprintf("accept queue at or below target %d for %v", spec.ScaleQueueTarget, spec.ScaleDownCooldown)
	}
	return cur, ""
}

// grown restarts the idle clock for a manual growth: the user asked for
// workers, so idle_timeout counts from then.
func (s *scaler) grown(now time.Time) {
	if !s.primed {
		s.primed = true
		s.changed, s.above = now, now
	}
	s.active = now
}

// idleWorkers is how many of the pool's cur workers hold no connection
// at reading l: fewer connections are held (held) than there are
// workers. A connection that waits while a worker holds none is waiting
// for that worker to come back to accept (a loaded host can take several
// ms to wake a sync worker), not for a worker to exist: growing on it,
// with 4 clients on 7 idle-ish gunicorn workers, gave 7 -> 8, then a
// shrink after the cooldown, 8 scale events in 90 s. 0 when the held
// connections are unknown. It says nothing of a threaded worker's spare
// threads: one that holds a connection counts as taken, so for such
// pools the rule holds nothing back that it should not
// (scale_busy_target is their signal).
func idleWorkers(cur int, l Load) int {
	h, ok := held(l)
	if !ok || cur <= 0 {
		return 0
	}
	return max(cur-h, 0)
}

// held is how many connections the workers hold at reading l: open and
// not waiting. Unknown (false) when the connections are unknown (-1), or
// when a count of an earlier reading is lower than the queue (taken
// before it came). A count of this reading lower than the queue
// (Counted) found it drained: none is held. gunicorn sync answers each
// request on its own connection, so one or two clients often had their
// waiting connection answered and closed before the count; read as
// unknown, that grew a pool of 3 to 4-7 under wrk -c1 or -c2.
func held(l Load) (int, bool) {
	open := l.Conns
	if l.Counted {
		open = max(open, l.Queue)
	}
	if l.Conns < 0 || open < l.Queue {
		return 0, false
	}
	return open - l.Queue, true
}

// unserved is the queue's excess over its target that the idle workers
// will not take: what a growth by the queue is for.
func unserved(spec configs.Watcher, cur int, l Load) int {
	return l.Queue - idleWorkers(cur, l) - spec.ScaleQueueTarget
}

// upBy is how many workers a growth adds: enough for the load it saw, as
// Kubernetes' HPA sizes a deployment from its metric, rather than one
// step per scale_up_cooldown (1 -> 8 gunicorn workers took 7 s with 199
// connections waiting, and a burst saw timeouts a fixed pool of 8 did not
// have). For the queue: its excess over the target, less the workers
// that hold no connection (idleWorkers), at the connections a worker
// holds now (held, per worker, at least 1; 1 when they are unknown).
// For busy reports: the size that puts the busy share at its target.
// Never fewer than scale_up_step, nor more than scale_up_max_step when
// set (1: the old one step at a time). The next growth waits for every
// worker of this one to be proven (gated).
func upBy(spec configs.Watcher, cur int, l Load, byQueue, byBusy bool) int {
	n := spec.ScaleUpStep
	if byQueue {
		per := 1
		if h, ok := held(l); ok && cur > 0 && h > cur {
			per = h / cur
		}
		n = max(n, ceilDiv(unserved(spec, cur, l), per))
	}
	if share := spec.ScaleBusyTarget / 100; byBusy && share > 0 {
		n = max(n, int(math.Ceil(float64(l.Busy)/share))-cur)
	}
	if spec.ScaleUpMaxStep > 0 {
		n = min(n, spec.ScaleUpMaxStep)
	}
	return max(n, 1)
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// sizing is the spec with the numprocesses it was given: what the bounds
// (Bounds, Clamp, Capacity), the start size and the wake size are read
// from. spec.NumProcesses is the size poold keeps the pool at.
func (w *Watcher) sizing() configs.Watcher {
	s := w.spec
	if s.Elastic() {
		s.NumProcesses = w.conf
	}
	return s
}

// Configured is the numprocesses the watcher's spec was given; for an
// elastic pool not its size in force (Target), which follows the load.
func (w *Watcher) Configured() int { return w.sizing().NumProcesses }

// Clamp puts n within the watcher's bounds (an elastic pool's
// min_workers..max_workers).
func (w *Watcher) Clamp(n int) int { return w.sizing().Clamp(n) }

// Capacity is the most workers the watcher may run (max_workers for an
// elastic pool), as arbiter.max_processes counts it.
func (w *Watcher) Capacity() int { return w.sizing().Capacity() }

// Elastic reports whether the watcher's size follows its load.
func (w *Watcher) Elastic() bool { return w.spec.Elastic() }

// Cold reports whether the watcher is an on_demand pool running no
// worker: the arbiter then waits for a connection on its sockets.
func (w *Watcher) Cold() bool {
	return w.spec.OnDemand && w.running() && w.spec.NumProcesses == 0 && len(w.procs) == 0
}

// Warm reports whether the watcher is an elastic pool whose accept
// queues the arbiter should read periodically.
func (w *Watcher) Warm() bool { return w.Elastic() && w.running() && !w.Cold() }

func (w *Watcher) running() bool { return w.status == Active || w.status == Starting }

// Shown is the status word the status command gives, in Circus's
// vocabulary: Status, except that a running elastic pool with fewer ready
// workers than it needs to serve, min_workers or at least one (an
// on_demand pool just woken, a pool whose min_workers are not ready yet),
// is "starting", as a fixed watcher is until its workers are ready; and
// a watcher with a worker that ended badly with respawn off (a failed
// one-shot) is "failed", as /readyz says, not "stopped" as an operator's
// stop or a one-shot done. Not Status itself: an on_demand pool that
// wakes stays ready for /readyz, the dependencies of other watchers stay
// met, and a failed one-shot is still at rest for start and restart.
func (w *Watcher) Shown() Status {
	st := w.Status()
	if w.exitedBadly() && (st == Stopped || st == Active || st == Starting) {
		return Failed // a one-shot that failed (oneshot.go)
	}
	if st != Active || !w.Elastic() {
		return st
	}
	lo, _ := w.sizing().Bounds()
	need, ready := min(w.spec.NumProcesses, max(lo, 1)), 0
	for _, p := range w.procs {
		if p.State == ProcReady {
			ready++
		}
	}
	if ready < need {
		return Starting
	}
	return st
}

// Size describes the watcher's size, its bounds and its last decision.
func (w *Watcher) Size() Size {
	lo, hi := w.sizing().Bounds()
	sc := w.scaleInfo
	sc.Elastic, sc.OnDemand, sc.Current, sc.Min, sc.Max = w.Elastic(), w.spec.OnDemand, w.spec.NumProcesses, lo, hi
	sc.Ready = 0
	for _, p := range w.procs {
		if p.State == ProcReady {
			sc.Ready++
		}
	}
	if !sc.Elastic {
		sc.Min, sc.Max = w.spec.NumProcesses, w.spec.NumProcesses
	}
	return sc
}

// Demand hands the watcher a reading of its load; an elastic, running
// watcher may change its size, publishing a scale event. Nothing changes
// during a rolling reload.
func (w *Watcher) Demand(l Load) {
	if !w.Elastic() || !w.running() || w.roll != nil {
		return
	}
	w.scaleInfo.Queue = l.Queue
	for _, p := range w.procs {
		if p.busy >= 0 && p.State != ProcStopping {
			l.Reported = true
			if p.busy > 0 {
				l.Busy++
			}
		}
	}
	w.scaleInfo.Busy = l.Busy
	cur := w.spec.NumProcesses
	to, why := w.scaler.decide(w.sizing(), cur, w.host.Now(), l, w.gated())
	if to == cur {
		return
	}
	defer w.settle()
	// The log line carries the reading the decision used: a growth or a
	// shrink that looks wrong afterwards can be read off it.
	w.resize(to, why, "queue", l.Queue, "conns", l.Conns, "counted", l.Counted, "busy", l.Busy)
}

// gated reports whether a worker is still starting or younger than
// scale_up_cooldown, or a slot has a recent early death: it waits, its
// worker is being stopped for failing its readiness, or its worker has
// not yet lived long enough (the crash policy's "early") to count as
// healthy again. A slot a scale-down dropped has no seat and gates
// nothing.
func (w *Watcher) gated() bool {
	since := map[int]time.Time{} // wid -> start of its running worker
	now := w.host.Now()
	for _, p := range w.procs {
		// A worker younger than the cooldown is not proven yet: with
		// readiness "spawn" it is ready before it had a chance to crash.
		if p.State == ProcStarting || p.State == ProcReady && now.Sub(p.Started) < w.spec.ScaleUpCooldown {
			return true
		}
		// Stopped for failing its readiness: an early death in the making.
		if w.kindOf(p) == kindHeld {
			return true
		}
		if p.State == ProcReady {
			since[p.Wid] = p.Started
		}
	}
	for wid, s := range w.slots {
		if s.hold != HoldNone {
			return true
		}
		// A slot whose history predates a worker poold stopped there (a
		// scale-down dropped it; it keeps its history for when the wid is
		// used again) gates nothing: the worker now there, if any, is no
		// respawn after a death. With no running worker, gating on it
		// would keep the pool from growing for good: nothing runs there
		// to outlive the early period.
		if s.counters == (Counters{}) || s.pastDeaths {
			continue
		}
		if at, ok := since[wid]; ok && now.Sub(at) < w.policy.Early {
			return true
		}
	}
	return false
}

// resize sets the size of an elastic pool and says so; reading is the
// key/values of the reading an automatic decision rests on, for the log.
func (w *Watcher) resize(to int, why string, reading ...any) {
	from := w.spec.NumProcesses
	now := w.host.Now()
	w.spec.NumProcesses = to
	w.scaler.changed = now
	w.scaleInfo.From, w.scaleInfo.To, w.scaleInfo.Reason, w.scaleInfo.At = from, to, why, now
	w.scaleInfo.Count++
	if to > from {
		w.scaleInfo.Ups++
	} else {
		w.scaleInfo.Downs++
	}
	w.log.Info("scale", append([]any{"from", from, "to", to, "reason", why}, reading...)...)
	w.host.Publish(w.spec.Name, events.KindScale, map[string]any{"from": from, "to": to, "reason": why, "queue": w.scaleInfo.Queue})
}

// Busy records a worker's report of how many requests it has in hand
// (BUSY=N on the notify socket); the next reading of the pool counts it.
func (w *Watcher) Busy(pid, n int) {
	if p, ok := w.procs[pid]; ok {
		p.busy = max(n, 0)
	}
}

// ScaleState is what an in-place upgrade hands over of an elastic pool's
// scaling: its last change of size and its counts (status's last scale,
// the scale_events_total counters, which must not fall back to 0 for the
// same pool) and the scaler's clocks (a cooldown or idle_timeout under
// way goes on from where it was, not from the upgrade). Times are wall
// clock, as a worker's start is.
type ScaleState struct {
	From   int       `json:"from"`
	To     int       `json:"to"`
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"`
	Count  int       `json:"count"`
	Ups    int       `json:"ups"`
	Downs  int       `json:"downs"`
	Queue  int       `json:"queue"`
	Busy   int       `json:"busy"`
	// The scaler's memory; Changed is zero before its first reading.
	Changed time.Time `json:"changed"`
	Above   time.Time `json:"above"`
	Active  time.Time `json:"active"`
	OverRun int       `json:"over_run,omitempty"`
}

// scaleState is w's scaling for a new image; nil for a pool that never
// was elastic.
func (w *Watcher) scaleState() *ScaleState {
	si, sc := w.scaleInfo, w.scaler
	if !w.Elastic() && si.Count == 0 {
		return nil
	}
	st := &ScaleState{From: si.From, To: si.To, Reason: si.Reason, At: si.At, Count: si.Count, Ups: si.Ups, Downs: si.Downs,
		Queue: si.Queue, Busy: si.Busy, OverRun: sc.overRun}
	if sc.primed {
		st.Changed, st.Above, st.Active = sc.changed, sc.above, sc.active
	}
	return st
}

// adoptScale takes over the scaling an older image handed over (none from
// an image that did not: the pool starts afresh, as before).
func (w *Watcher) adoptScale(st *ScaleState) {
	if st == nil {
		return
	}
	si := &w.scaleInfo
	si.From, si.To, si.Reason, si.At = st.From, st.To, st.Reason, st.At
	si.Count, si.Ups, si.Downs, si.Queue, si.Busy = st.Count, st.Ups, st.Downs, st.Queue, st.Busy
	if !st.Changed.IsZero() {
		w.scaler = scaler{primed: true, changed: st.Changed, above: st.Above, active: st.Active, overRun: st.OverRun}
	}
}
