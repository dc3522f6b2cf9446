package configs

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// Scaling is the elastic part of a [watchers.NAME] section: a pool that
// starts on its first connection (on_demand) and grows and shrinks with
// the accept queue of its sockets between MinWorkers and MaxWorkers. A
// watcher is elastic when OnDemand is set or MaxWorkers > 0 (Elastic);
// otherwise these keys are unused and numprocesses is fixed.
//
// In an elastic watcher numprocesses is the size it starts at, clamped to
// [min_workers, max_workers] (an on_demand pool starts at 0 whatever it
// says); after that the size is poold's decision, or the user's through
// incr, decr and set numprocesses, always within the bounds.
type Scaling struct {
	// OnDemand: no worker runs until a connection waits on one of the
	// watcher's sockets; poold then starts max(numprocesses, 1) workers
	// (at most max_workers). Needs at least one socket; min_workers must
	// be 0.
	OnDemand bool
	// MinWorkers and MaxWorkers bound the pool. MaxWorkers 0 with
	// OnDemand means max(numprocesses, 1): Circus's on_demand, 0 or N.
	MinWorkers int
	MaxWorkers int
	// IdleTimeout: after no connection (none waiting, none open) for this
	// long, the pool goes back to MinWorkers (0 for on_demand). 0: never.
	IdleTimeout time.Duration
	// ScaleQueueTarget is the accept-queue length (connections waiting,
	// summed over the watcher's sockets) above which the pool grows.
	// Default 0: any connection left waiting means too few workers.
	ScaleQueueTarget int
	// ScaleUpStep is the fewest workers one growth adds (default 1): a
	// growth adds as many as the load asks for (the queue's excess over
	// its target at the connections a worker holds, or the busy share),
	// at least this many. ScaleUpMaxStep, when > 0, is the most one
	// growth adds (set it to ScaleUpStep for a fixed step per
	// scale_up_cooldown, the behaviour before it grew with the load).
	// ScaleDownStep is how many workers one shrink removes (default 1).
	ScaleUpStep    int
	ScaleUpMaxStep int
	ScaleDownStep  int
	// ScaleUpCooldown is the least time between a change of size and a
	// growth (default 1s); ScaleDownCooldown how long the queue must have
	// stayed at or below the target, and the size unchanged, before a
	// shrink (default 30s).
	ScaleUpCooldown   time.Duration
	ScaleDownCooldown time.Duration
	// ScaleBusyTarget, a percentage (0 = off), adds a second signal:
	// workers that report BUSY=N on the notify socket (N requests in
	// hand; see README). The pool grows while more than this share of its
	// workers are busy, and shrinks only when the smaller pool would stay
	// at or below it.
	ScaleBusyTarget float64
}

// Elastic defaults.
const (
	DefaultScaleStep         = 1
	DefaultScaleUpCooldown   = time.Second
	DefaultScaleDownCooldown = 30 * time.Second
)

// DefaultScaling returns the elastic keys with their defaults (not
// elastic).
func DefaultScaling() Scaling {
	return Scaling{
		ScaleUpStep:       DefaultScaleStep,
		ScaleDownStep:     DefaultScaleStep,
		ScaleUpCooldown:   DefaultScaleUpCooldown,
		ScaleDownCooldown: DefaultScaleDownCooldown,
	}
}

// Elastic reports whether the watcher's size follows its load.
func (w Watcher) Elastic() bool { return w.OnDemand || w.MaxWorkers > 0 }

// Bounds are the least and most workers of an elastic watcher.
func (w Watcher) Bounds() (lo, hi int) {
	hi = w.MaxWorkers
	if hi == 0 {
		hi = max(w.NumProcesses, 1)
	}
	return w.MinWorkers, max(hi, w.MinWorkers)
}

// Clamp puts n within the watcher's bounds when it is elastic.
func (w Watcher) Clamp(n int) int {
	if !w.Elastic() {
		return n
	}
	lo, hi := w.Bounds()
	return min(max(n, lo), hi)
}

// InitialSize is how many workers the watcher starts with: numprocesses,
// clamped to the bounds; 0 for on_demand.
func (w Watcher) InitialSize() int {
	if w.OnDemand {
		return 0
	}
	return w.Clamp(w.NumProcesses)
}

// WakeSize is how many workers an on_demand pool starts for its first
// connection.
func (w Watcher) WakeSize() int {
	_, hi := w.Bounds()
	return min(max(w.NumProcesses, w.MinWorkers, 1), hi)
}

// Capacity is the most workers the watcher may run: max_workers for an
// elastic one, numprocesses otherwise (arbiter.max_processes counts it).
func (w Watcher) Capacity() int {
	if w.Elastic() {
		_, hi := w.Bounds()
		return max(hi, w.NumProcesses)
	}
	return w.NumProcesses
}

var scalingFields = []field[Watcher]{
	boolField("on_demand", func(w *Watcher) *bool { return &w.OnDemand }),
	intField("min_workers", func(w *Watcher) *int { return &w.MinWorkers }, 0, math.MaxInt32),
	intField("max_workers", func(w *Watcher) *int { return &w.MaxWorkers }, 0, math.MaxInt32),
	durationField("idle_timeout", func(w *Watcher) *time.Duration { return &w.IdleTimeout }, false),
	intField("scale_queue_target", func(w *Watcher) *int { return &w.ScaleQueueTarget }, 0, math.MaxInt32),
	intField("scale_up_step", func(w *Watcher) *int { return &w.ScaleUpStep }, 1, math.MaxInt32),
	intField("scale_up_max_step", func(w *Watcher) *int { return &w.ScaleUpMaxStep }, 0, math.MaxInt32),
	intField("scale_down_step", func(w *Watcher) *int { return &w.ScaleDownStep }, 1, math.MaxInt32),
	durationField("scale_up_cooldown", func(w *Watcher) *time.Duration { return &w.ScaleUpCooldown }, false),
	durationField("scale_down_cooldown", func(w *Watcher) *time.Duration { return &w.ScaleDownCooldown }, false),
	{key: "scale_busy_target",
		decode: func(d *decoder, k string, raw any, w *Watcher) {
			if f, ok := d.share(k, raw); ok {
				w.ScaleBusyTarget = f
			}
		},
		wire: func(w *Watcher) any { return w.ScaleBusyTarget },
	},
}

// share accepts a percentage between 0 and 100: a number (75, 75.5) or a
// string with an optional "%" ("75%").
func (d *decoder) share(key string, raw any) (float64, bool) {
	f, ok := asFloat(raw)
	switch x := raw.(type) {
	case string:
		f, ok = parseShare(x)
	case envValue:
		f, ok = parseShare(x.text)
	}
	if !ok || math.IsNaN(f) || f < 0 || f > 100 {
		d.bad(key, raw, `must be a percentage between 0 and 100 such as 75 or "75%%" (0 = off), got %s`, describe(raw))
		return 0, false
	}
	return f, true
}

func parseShare(s string) (float64, bool) {
	f, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), "%")), 64)
	return f, err == nil
}

func init() { watcherFields = append(watcherFields, scalingFields...) }

// validateScaling checks the elastic keys against each other, the
// watcher's sockets (defined: lower-cased names of every socket) and
// max_processes. Every problem is reported at once, as for the other
// keys: a missing min_workers used to hide max_workers over
// max_processes and scale_up_max_step below scale_up_step until it was
// fixed. Only one problem per cause: min_workers gets one, and a pool
// without a socket one (on_demand's when it is set).
func validateScaling(ps *problems, k func(string) string, w *Watcher, defined map[string]bool) {
	if !w.Elastic() {
		if w.MinWorkers > 0 {
			ps.add(k("min_workers"), "is %d but the pool is not elastic; set max_workers (or on_demand = true) too, or remove min_workers", w.MinWorkers)
		}
		if w.IdleTimeout > 0 {
			ps.add(k("idle_timeout"), "is set but the pool is not elastic; set on_demand = true or max_workers, or remove idle_timeout")
		}
		if w.ScaleBusyTarget > 0 {
			ps.add(k("scale_busy_target"), "is set but the pool is not elastic; set max_workers (or on_demand = true) too, or remove scale_busy_target")
		}
		return
	}
	_, hi := w.Bounds()
	switch {
	case w.OnDemand && w.MinWorkers > 0:
		ps.add(k("min_workers"), "is %d but on_demand starts the pool at 0 workers; set min_workers = 0 or on_demand = false", w.MinWorkers)
	case !w.OnDemand && w.MinWorkers == 0:
		ps.add(k("min_workers"), "is 0 but on_demand is false, so nothing would start a worker for a waiting connection; set min_workers >= 1, or on_demand = true")
	case w.MaxWorkers > 0 && w.MinWorkers > w.MaxWorkers:
		ps.add(k("min_workers"), "%d is over max_workers %d; lower min_workers or raise max_workers", w.MinWorkers, w.MaxWorkers)
	}
	if w.ScaleUpMaxStep > 0 && w.ScaleUpMaxStep < w.ScaleUpStep {
		ps.add(k("scale_up_max_step"), "%d is below scale_up_step %d; set it to 0 (no limit but max_workers) or at least %d", w.ScaleUpMaxStep, w.ScaleUpStep, w.ScaleUpStep)
	}
	if hi > w.MaxProcesses {
		ps.add(k("max_workers"), "%d is over max_processes %d; raise %s if the machine can take that many workers", hi, w.MaxProcesses, k("max_processes"))
	}
	switch {
	case hasSocket(w, defined):
	case w.OnDemand:
		ps.add(k("on_demand"), "needs a socket to watch for connections, and the watcher uses none; add sockets = [\"NAME\"] (a [sockets.NAME] section) or set on_demand = false")
	default:
		ps.add(k("max_workers"), "makes the pool follow the accept queue of its sockets, and the watcher uses none; add sockets = [\"NAME\"] or remove max_workers")
	}
}

// hasSocket reports whether w's workers inherit at least one of the
// defined sockets.
func hasSocket(w *Watcher, defined map[string]bool) bool {
	if w.UseSockets && len(defined) > 0 {
		return true
	}
	for _, n := range w.Sockets {
		if defined[strings.ToLower(n)] {
			return true
		}
	}
	for _, n := range w.socketRefs() {
		if defined[strings.ToLower(n)] {
			return true
		}
	}
	return false
}
