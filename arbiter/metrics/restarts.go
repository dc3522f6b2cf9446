package metrics

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/poold/poold/events"
)

// Restart reasons, the values of poold_worker_restarts_total's reason.
const (
	ReasonExit       = "exit"        // the worker ended without poold asking
	ReasonOOM        = "oom"         // the kernel's OOM killer killed it
	ReasonSpawnError = "spawn_error" // the previous start of the slot failed
	ReasonUnhealthy  = "unhealthy"   // failed readiness or health check
	ReasonLimit      = "limit"       // over max_rss or max_cpu
	ReasonMaxAge     = "max_age"     // recycled for its age
)

// Reasons lists every restart reason.
var Reasons = []string{ReasonExit, ReasonOOM, ReasonSpawnError, ReasonUnhealthy, ReasonLimit, ReasonMaxAge}

// The reap event's reason for an OOM kill, and the field of an unhealthy
// event that says a resource limit (watcher.ReasonOOM, watcher.overLimit).
const (
	reapOOM       = "oom"
	reapTimeout   = "graceful_timeout" // killed at graceful_timeout of its stop
	fieldLimit    = "limit"
	fieldOOMKills = "oom_kills" // of an unhealthy event for a child's OOM kill (arbiter/oomchild.go)
)

// maxTracked bounds the per-pid memory of a pool: if reaps were lost (a
// full subscription), the maps are reset rather than grow.
const maxTracked = 1 << 16

// tracker turns the event stream into restart counts. A restart is poold
// starting a worker again without being asked: a recycle (counted when
// poold decides it), or a spawn into a slot whose last worker ended on its
// own, failed its readiness or could not be started. Stops, scale-downs
// and reloads that poold was asked for are not restarts: their workers
// get a kill event before their reap. It is owned by Exporter.Run.
type tracker struct {
	vec   *prometheus.CounterVec
	pools map[string]*poolTrack // by lower-case watcher name
	// spelled is each pool's name as last published (its label value): a
	// reload can change only its case (names keep it as written).
	spelled map[string]string
	// removed are the pools removed and not added since, by lower-case
	// name: poold publishes remove before the removed pool's workers are
	// stopped, and their kill, reap and stop events must not bring the
	// pool's series back.
	removed map[string]bool
	// onNew runs when a pool is first seen (its other series start too).
	onNew func(pool string)
	// onRespell runs when a pool's name changed case: its other series
	// under the old spelling go.
	onRespell func(old, pool string)
	// oomKills counts the OOM kills of workers' children (unhealthy
	// events with oom_kills); nil: not counted.
	oomKills *prometheus.CounterVec
	// abandoned counts rolling reloads abandoned (reload_failed events);
	// nil: not counted.
	abandoned *prometheus.CounterVec
	// stopKills counts workers killed at graceful_timeout (reap events
	// with that reason); nil: not counted.
	stopKills *prometheus.CounterVec
}

// poolTrack is what the tracker remembers of one pool between events.
type poolTrack struct {
	signalled map[int]bool   // pids poold sent a signal to (kill events)
	unhealthy map[int]string // pids with an unhealthy event: ReasonUnhealthy or ReasonLimit
	done      map[int]bool   // pids whose replacement is counted or abandoned
	pending   map[int]string // wid -> reason its next start is a restart
	// The previous event of the pool, when it was a reap (its wid) or an
	// unhealthy (its pid): a reload_failed right after names them.
	lastReapWid, lastUnhealthyPid int
}

func newTracker(vec *prometheus.CounterVec) *tracker {
	return &tracker{vec: vec, pools: map[string]*poolTrack{}, spelled: map[string]string{}, removed: map[string]bool{}}
}

// seed starts the series of pools that exist, which may never publish an
// event (a pool that is not started): every pool has them, from 0. A pool
// removed since names were read is left alone.
func (t *tracker) seed(names []string) {
	for _, name := range names {
		if !t.removed[strings.ToLower(name)] {
			t.pool(name)
		}
	}
}

func (t *tracker) pool(name string) *poolTrack {
	key := strings.ToLower(name)
	p := t.pools[key]
	if p != nil && t.spelled[key] != name {
		t.respell(t.spelled[key], name)
		t.spelled[key] = name
	}
	if p == nil {
		p = &poolTrack{}
		p.reset()
		t.pools[key], t.spelled[key] = p, name
		for _, r := range Reasons { // every series from 0, so rate() sees the first one
			t.vec.WithLabelValues(name, r)
		}
		for _, v := range []*prometheus.CounterVec{t.oomKills, t.abandoned, t.stopKills} {
			if v != nil {
				v.WithLabelValues(name)
			}
		}
		if t.onNew != nil {
			t.onNew(name)
		}
	}
	return p
}

func (p *poolTrack) reset() {
	p.signalled, p.unhealthy, p.done, p.pending = map[int]bool{}, map[int]string{}, map[int]bool{}, map[int]string{}
}

// apply takes one lifecycle event and reports whether it was of a pool
// that exists: not one removed (remove included) and not added again.
func (t *tracker) apply(ev events.Event) bool {
	if ev.Watcher == "" || !t.member(ev) {
		return false
	}
	p := t.pool(ev.Watcher)
	if n := intField(ev, fieldOOMKills); ev.Kind == events.KindUnhealthy && n > 0 {
		// A child of a worker that runs on: no restart, and the
		// events around it keep their meaning (lastReapWid).
		if t.oomKills != nil {
			t.oomKills.WithLabelValues(ev.Watcher).Add(float64(n))
		}
		return true
	}
	t.track(p, ev)
	if len(p.signalled)+len(p.unhealthy)+len(p.done) > maxTracked {
		p.signalled, p.unhealthy, p.done = map[int]bool{}, map[int]string{}, map[int]bool{}
	}
	return true
}

// member tells whether ev is of a pool being tracked: a remove forgets
// the pool and its series, and the events of its stop that follow are
// not counted until an add (or a reload that defines it again).
func (t *tracker) member(ev events.Event) bool {
	key := strings.ToLower(ev.Watcher)
	switch {
	case ev.Kind == events.KindRemove:
		for _, name := range []string{ev.Watcher, t.spelled[key]} {
			for _, v := range t.counters() {
				v.DeletePartialMatch(prometheus.Labels{"pool": name})
			}
		}
		delete(t.pools, key)
		delete(t.spelled, key)
		if len(t.removed) >= maxTracked {
			clear(t.removed)
		}
		t.removed[key] = true
		return false
	case ev.Kind == events.KindAdd:
		// add, or a config reload that defines a leaving pool again
		delete(t.removed, key)
	case t.removed[key]:
		return false // the removed pool's stop
	}
	return true
}

// counters are the tracker's counter vectors, labelled by pool first.
func (t *tracker) counters() []*prometheus.CounterVec {
	vs := []*prometheus.CounterVec{t.vec}
	for _, v := range []*prometheus.CounterVec{t.oomKills, t.abandoned, t.stopKills} {
		if v != nil {
			vs = append(vs, v)
		}
	}
	return vs
}

// respell moves the counts of the pool spelled old to its new spelling
// pool (a reload of [watchers.MYAPP] for MyApp keeps its workers): the
// old series go, none is left behind for good, and the counts carry on.
func (t *tracker) respell(old, pool string) {
	for _, v := range t.counters() {
		moveCounts(v, old, pool)
	}
	if t.onRespell != nil {
		t.onRespell(old, pool)
	}
}

// moveCounts adds each series of v labelled pool=old to the same series
// labelled pool=pool, and deletes the old ones.
func moveCounts(v *prometheus.CounterVec, old, pool string) {
	ch := make(chan prometheus.Metric, 64)
	go func() { v.Collect(ch); close(ch) }()
	var moves []struct {
		labels []string
		n      float64
	}
	for m := range ch {
		var d dto.Metric
		if m.Write(&d) != nil {
			continue
		}
		var labels []string
		hit := false
		for _, l := range d.GetLabel() {
			if l.GetName() == "pool" {
				hit = l.GetValue() == old
			}
		}
		if !hit {
			continue
		}
		for _, l := range d.GetLabel() {
			labels = append(labels, l.GetName(), l.GetValue())
		}
		moves = append(moves, struct {
			labels []string
			n      float64
		}{labels, d.GetCounter().GetValue()})
	}
	v.DeletePartialMatch(prometheus.Labels{"pool": old})
	for _, mv := range moves {
		ls := prometheus.Labels{}
		for i := 0; i < len(mv.labels); i += 2 {
			ls[mv.labels[i]] = mv.labels[i+1]
		}
		ls["pool"] = pool
		v.With(ls).Add(mv.n)
	}
}

// track moves pool p's bookkeeping by one event, counting a restart
// when a slot's next worker starts (or fails to).
func (t *tracker) track(p *poolTrack, ev events.Event) {
	lastReap, lastUnhealthy := p.lastReapWid, p.lastUnhealthyPid
	p.lastReapWid, p.lastUnhealthyPid = 0, 0
	pid, wid := intField(ev, "process_pid"), intField(ev, "process_id")
	count := func(reason string) { t.vec.WithLabelValues(ev.Watcher, reason).Inc() }
	switch ev.Kind {
	case events.KindKill:
		p.signalled[pid] = true
	case events.KindUnhealthy:
		p.unhealthy[pid] = ReasonUnhealthy
		if over, _ := ev.Fields[fieldLimit].(bool); over {
			p.unhealthy[pid] = ReasonLimit
		}
		p.lastUnhealthyPid = pid
	case events.KindRecycle:
		// Its replacement starts now, through the rolling path.
		reason := ReasonMaxAge
		if r := p.unhealthy[pid]; r != "" {
			reason = r
		}
		count(reason)
		p.done[pid] = true
	case events.KindExit:
		reason, _ := ev.Fields["reason"].(string)
		if reason == reapTimeout && t.stopKills != nil {
			t.stopKills.WithLabelValues(ev.Watcher).Inc()
		}
		p.reaped(pid, wid, reason)
	case events.KindReloadFailed:
		if t.abandoned != nil {
			t.abandoned.WithLabelValues(ev.Watcher).Inc()
		}
		// A new worker of a rolling reload died or failed its readiness:
		// the reload is abandoned, and that slot is not started again.
		delete(p.pending, lastReap)
		if lastUnhealthy != 0 {
			p.done[lastUnhealthy] = true
		}
	case events.KindSpawnError:
		if r := p.pending[wid]; r != "" {
			count(r)
		}
		p.pending[wid] = ReasonSpawnError
	case events.KindSpawn:
		if r := p.pending[wid]; r != "" {
			count(r)
			delete(p.pending, wid)
		}
	case events.KindStop, events.KindStart:
		p.reset() // every worker is gone, and so is every slot's history
	}
}

// reaped decides what the end of pid, for the reap event's reason,
// means for its slot's next start.
func (p *poolTrack) reaped(pid, wid int, reason string) {
	switch {
	case p.done[pid]:
	case p.unhealthy[pid] != "":
		p.pending[wid] = p.unhealthy[pid] // stopped for failing its readiness or a limit
	case p.signalled[pid]:
		// stopped on request: stop, scale down, reload
	case reason == reapOOM:
		p.pending[wid] = ReasonOOM
	default:
		p.pending[wid] = ReasonExit
	}
	p.lastReapWid = wid
	delete(p.signalled, pid)
	delete(p.unhealthy, pid)
	delete(p.done, pid)
}

// intField reads a payload number (the bus carries Go ints; a decoded
// payload float64s).
func intField(ev events.Event, k string) int {
	switch v := ev.Fields[k].(type) {
	case int:
		return v
	case int64:
		return int(v)
	case float64:
		return int(v)
	}
	return 0
}
