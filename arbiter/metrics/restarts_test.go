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
		{"stop forgets a pending slot", []events.Event{ev(reap, 10, 1), ev(events.KindStop, 0, 0), ev(events.KindStart, 0, 0), ev(spawn, 11, 1)},
			map[string]float64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vec := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "r", Help: "r"}, []string{"pool", "reason"})
			tr := newTracker(vec)
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
