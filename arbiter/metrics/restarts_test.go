package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/poold/poold/events"
)

// ev is a lifecycle event of pool "web".
func ev(kind events.Kind, pid, wid int) events.Event {
	f := map[string]any{}
	if pid != 0 {
		f["process_pid"] = pid
	}
	if wid != 0 {
		f["process_id"] = wid
	}
	return events.Event{Watcher: "web", Kind: kind, Fields: f}
}

// with sets a payload field of e.
func with(e events.Event, k string, v any) events.Event {
	e.Fields[k] = v
	return e
}

// TestTrackerCountsRestartsByReason replays the event sequences the
// watcher publishes for each way a worker ends and checks what counts as
// a restart, and why.
func TestTrackerCountsRestartsByReason(t *testing.T) {
	const (
		reap, spawn, kill = events.KindExit, events.KindSpawn, events.KindKill
	)
	tests := []struct {
		name string
		evs  []events.Event
		want map[string]float64
	}{
		{"crash, respawned at once", []events.Event{ev(spawn, 10, 1), ev(reap, 10, 1), ev(spawn, 11, 1)},
			map[string]float64{ReasonExit: 1}},
		{"crash, backoff, respawned later", []events.Event{ev(spawn, 10, 1), ev(reap, 10, 1), ev(events.KindBackoff, 0, 1), ev(spawn, 11, 1)},
			map[string]float64{ReasonExit: 1}},
		{"crash with respawn off: no new worker", []events.Event{ev(spawn, 10, 1), ev(reap, 10, 1)},
			map[string]float64{}},
		{"scale down or stop: signalled first", []events.Event{ev(spawn, 10, 1), ev(kill, 10, 1), ev(reap, 10, 1), ev(spawn, 12, 1)},
			map[string]float64{}},
		{"failed readiness, respawned", []events.Event{ev(spawn, 10, 1), ev(events.KindUnhealthy, 10, 1), ev(kill, 10, 1), ev(reap, 10, 1), ev(spawn, 11, 1)},
			map[string]float64{ReasonUnhealthy: 1}},
		{"health check: recycled once", []events.Event{ev(spawn, 10, 1), ev(events.KindUnhealthy, 10, 1), ev(events.KindRecycle, 10, 1),
			ev(spawn, 11, 2), ev(kill, 10, 1), ev(reap, 10, 1)}, map[string]float64{ReasonUnhealthy: 1}},
		{"max_age", []events.Event{ev(spawn, 10, 1), ev(events.KindRecycle, 10, 1), ev(spawn, 11, 2), ev(kill, 10, 1), ev(reap, 10, 1)},
			map[string]float64{ReasonMaxAge: 1}},
		{"exec keeps failing, then works", []events.Event{ev(events.KindSpawnError, 0, 1), ev(events.KindSpawnError, 0, 1), ev(spawn, 11, 1)},
			map[string]float64{ReasonSpawnError: 2}},
		{"new worker of a reload dies: abandoned, slot not restarted", []events.Event{ev(spawn, 20, 3), ev(reap, 20, 3),
			ev(events.KindReloadFailed, 0, 0), ev(spawn, 21, 3)}, map[string]float64{}},
		{"new worker of a reload never ready: abandoned", []events.Event{ev(spawn, 20, 3), ev(events.KindUnhealthy, 20, 3),
			ev(events.KindReloadFailed, 0, 0), ev(kill, 20, 3), ev(reap, 20, 3), ev(spawn, 21, 3)}, map[string]float64{}},
		// r55 container review: an OOM kill or a resource limit was counted
		// as an exit or as unhealthy, so no alert on OOM kills could read it.
		{"OOM kill, respawned", []events.Event{ev(spawn, 10, 1), with(ev(reap, 10, 1), "reason", "oom"), ev(spawn, 11, 1)},
			map[string]float64{ReasonOOM: 1}},
		{"an exit with a status is an exit", []events.Event{ev(spawn, 10, 1), with(ev(reap, 10, 1), "reason", "exit"), ev(spawn, 11, 1)},
			map[string]float64{ReasonExit: 1}},
		{"over max_rss soon after start, stopped", []events.Event{ev(spawn, 10, 1), with(ev(events.KindUnhealthy, 10, 1), "limit", true),
			ev(kill, 10, 1), with(ev(reap, 10, 1), "reason", "limit"), ev(spawn, 11, 1)}, map[string]float64{ReasonLimit: 1}},
		{"over max_cpu later, recycled", []events.Event{ev(spawn, 10, 1), with(ev(events.KindUnhealthy, 10, 1), "limit", true),
			ev(events.KindRecycle, 10, 1), ev(spawn, 11, 2), ev(kill, 10, 1), ev(reap, 10, 1)}, map[string]float64{ReasonLimit: 1}},
		// r57b on-call M2: a child's OOM kill is no restart, and the
		// master's later stop on request is not one either.
		{"OOM kill of a worker's child, then a stop", []events.Event{ev(spawn, 10, 1), with(ev(events.KindUnhealthy, 10, 1), "oom_kills", 2),
			ev(kill, 10, 1), ev(reap, 10, 1), ev(spawn, 11, 1)}, map[string]float64{}},
		{"OOM kill of a worker's child between a new worker's death and reload_failed", []events.Event{ev(spawn, 20, 3), ev(reap, 20, 3),
			with(ev(events.KindUnhealthy, 10, 1), "oom_kills", 1), ev(events.KindReloadFailed, 0, 0), ev(spawn, 21, 3)}, map[string]float64{}},
		{"stop forgets a pending slot", []events.Event{ev(reap, 10, 1), ev(events.KindStop, 0, 0), ev(events.KindStart, 0, 0), ev(spawn, 11, 1)},
			map[string]float64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vec := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "r", Help: "r"}, []string{"pool", "reason"})
			tr := newTracker(vec)
			tr.oomKills = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "o", Help: "o"}, []string{"pool"})
			for _, e := range tt.evs {
				tr.apply(e)
			}
			for _, r := range Reasons {
				if got := testutil.ToFloat64(vec.WithLabelValues("web", r)); got != tt.want[r] {
					t.Errorf("%s = %v, want %v", r, got, tt.want[r])
				}
			}
		})
	}
}

func TestTrackerForgetsRemovedPools(t *testing.T) {
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "r", Help: "r"}, []string{"pool", "reason"})
	tr := newTracker(vec)
	tr.apply(ev(events.KindSpawn, 10, 1))
	if n := testutil.CollectAndCount(vec); n != len(Reasons) {
		t.Fatalf("%d series after the first event, want one per reason (%d)", n, len(Reasons))
	}
	tr.apply(ev(events.KindRemove, 0, 0))
	if n := testutil.CollectAndCount(vec); n != 0 {
		t.Fatalf("%d series after remove, want 0", n)
	}
}

// A removed pool's workers are stopped after its remove event: their kill,
// reap and stop events do not bring its series back, until it is added
// again (add, or a config reload that defines a leaving pool again).
// Names of pools that exist, read as the exporter starts, do not either
// once the pool is removed.
func TestTrackerIgnoresARemovedPoolUntilAdded(t *testing.T) {
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "r", Help: "r"}, []string{"pool", "reason"})
	tr := newTracker(vec)
	for _, e := range []events.Event{ev(events.KindSpawn, 10, 1), ev(events.KindRemove, 0, 0), ev(events.KindKill, 10, 1),
		ev(events.KindReap, 10, 1), ev(events.KindExit, 10, 1), ev(events.KindStop, 0, 0)} {
		tr.apply(e)
	}
	tr.seed([]string{"web"})
	if n := testutil.CollectAndCount(vec); n != 0 {
		t.Fatalf("%d series after remove and the stop that follows, want 0", n)
	}
	// Added again as "Web": names match whatever their case.
	for _, e := range []events.Event{ev(events.KindAdd, 0, 0), ev(events.KindSpawn, 11, 1), ev(events.KindExit, 11, 1), ev(events.KindSpawn, 12, 1)} {
		e.Watcher = "Web"
		tr.apply(e)
	}
	if got := testutil.ToFloat64(vec.WithLabelValues("Web", ReasonExit)); got != 1 {
		t.Errorf("restarts{exit} after the pool came back = %v, want 1", got)
	}
}

// A pool that never published an event (not started) has its series, at
// 0, once its name is read.
func TestTrackerSeedsPools(t *testing.T) {
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "r", Help: "r"}, []string{"pool", "reason"})
	tr := newTracker(vec)
	var seen []string
	tr.onNew = func(pool string) { seen = append(seen, pool) }
	tr.seed([]string{"idle"})
	tr.seed([]string{"idle"})
	if n := testutil.CollectAndCount(vec); n != len(Reasons) || len(seen) != 1 {
		t.Errorf("%d series and %v new pools, want %d and [idle]", n, seen, len(Reasons))
	}
}
