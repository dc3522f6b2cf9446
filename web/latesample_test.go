package web

import (
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/poold/poold/events"
)

// TestStatsDoNotBringBackAnExitTheBusDropped: in a burst bigger than the
// event history, the hub misses exits for good. A full refresh then lists
// the processes that run; a stats round sampled before those exits, which
// arrives after that refresh, put the dead pids back into the model (and
// into every console) until the next full refresh.
func TestStatsDoNotBringBackAnExitTheBusDropped(t *testing.T) {
	t.Parallel()
	h := newHub(&Server{log: hclog.NewNullLogger(), tunings: defaultTunings()}, t.Context())
	info := func(pid int) map[string]any { return map[string]any{"pid": float64(pid), "cpu": 1.0, "rss": 1000.0} }
	view := func(pids ...int) *watcherView {
		w := &watcherView{Name: "web", Status: "active", Procs: map[string]map[string]any{}}
		for _, pid := range pids {
			w.Procs[fmt.Sprint(pid)] = info(pid)
		}
		return w
	}
	// The refresh before the burst: 101 and 102 run.
	h.applyRefresh(refreshResult{job: refreshJob{all: true}, state: &stateView{Loaded: true, Watchers: []*watcherView{view(101, 102)}}})
	// The burst replaced them by 201 and 202; their exits never reached
	// the hub. The next refresh says so.
	h.applyRefresh(refreshResult{job: refreshJob{all: true}, state: &stateView{Loaded: true, Watchers: []*watcherView{view(201, 202)}}})
	// A stats round sampled 101 and 102 just before they died.
	at := time.Now()
	for _, pid := range []int{101, 102, 201} {
		h.statBuf = append(h.statBuf, events.Event{Seq: uint64(pid), Time: at, Topic: fmt.Sprintf("stat.web.%d", pid),
			Watcher: "web", Kind: events.KindStat, Fields: info(pid)})
	}
	h.flushStats()
	got := h.byName["web"].Procs
	if len(got) != 2 || got["201"] == nil || got["202"] == nil {
		t.Fatalf("after a refresh listing 201 and 202, and a late stats round, the console lists %v; want 201 and 202 only", keysOf(got))
	}
	if p := h.history["web"]; len(p) != 1 || p[0][1] != 2 {
		t.Fatalf("CPU history point %v; want the sum over 201 and 202 (2)", p)
	}
}

func keysOf[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
