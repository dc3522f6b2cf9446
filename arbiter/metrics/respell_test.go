package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/poold/poold/events"
)

// A reload that changes only the case of a pool's name keeps its workers
// (names keep their case as written): its series take the new spelling
// with their counts, none is left under the old one, and a remove then
// takes them all. The old spelling's 24 series stayed for good (r66
// review2 F2).
func TestTrackerRespellsAPoolWhoseNameChangedCase(t *testing.T) {
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "r", Help: "r"}, []string{"pool", "reason"})
	kills := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "k", Help: "k"}, []string{"pool"})
	tr := newTracker(vec)
	tr.stopKills = kills
	named := func(name string, e events.Event) events.Event { e.Watcher = name; return e }
	for _, e := range []events.Event{ev(events.KindSpawn, 10, 1), ev(events.KindExit, 10, 1), ev(events.KindSpawn, 11, 1)} {
		tr.apply(named("MyApp", e))
	}
	kills.WithLabelValues("MyApp").Add(2)
	tr.apply(named("MYAPP", ev(events.KindUpdated, 0, 0)))
	if got := testutil.ToFloat64(vec.WithLabelValues("MYAPP", ReasonExit)); got != 1 {
		t.Errorf("restarts{pool=MYAPP,exit} = %v after the rename, want the 1 counted as MyApp", got)
	}
	if got := testutil.ToFloat64(kills.WithLabelValues("MYAPP")); got != 2 {
		t.Errorf("stop kills{pool=MYAPP} = %v after the rename, want 2", got)
	}
	if n := testutil.CollectAndCount(vec); n != len(Reasons) {
		t.Errorf("%d restart series after the rename, want %d: the old spelling's are left", n, len(Reasons))
	}
	tr.apply(named("MYAPP", ev(events.KindRemove, 0, 0)))
	if n := testutil.CollectAndCount(vec) + testutil.CollectAndCount(kills); n != 0 {
		t.Errorf("%d series after remove, want 0", n)
	}
}
