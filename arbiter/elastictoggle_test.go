package arbiter

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher/proctest"
)

// togglePool starts the on_demand pool "lazy" of numprocesses 2 with a
// config reload that serves *next.
func togglePool(t *testing.T, idle time.Duration) (*harness, *configs.Config, func()) {
	t.Helper()
	cfg := onDemandConfig("serve", 0, idle)
	cfg.Watchers[0].NumProcesses = 2
	next := *cfg
	h := start(t, cfg, Options{Load: func() (*configs.Config, error) { c := next; return &c, nil }})
	reload := func() {
		t.Helper()
		r := h.a.Do(context.Background(), Request{ID: "r", Command: "reloadconfig", Properties: map[string]any{"waiting": true}})
		if r["status"] != "ok" {
			t.Fatalf("reloadconfig: %v", r)
		}
	}
	return h, &next, reload
}

// TestColdPoolMadeFixedByAReloadRuns: a config reload that turns
// on_demand off for a pool that sits cold (0 workers) gives it its
// numprocesses of workers. It used to keep the cold 0 as if it were a
// run-time set: status active, no worker, connections waiting for good.
func TestColdPoolMadeFixedByAReloadRuns(t *testing.T) {
	h, next, reload := togglePool(t, 0)
	proctest.Eventually(t, "the pool is active", func() bool {
		return h.do("status", map[string]any{"name": "lazy"})["status"] == "active"
	})
	fixed := next.Watchers[0]
	fixed.OnDemand = false
	next.Watchers = []configs.Watcher{fixed}
	reload()
	h.spawns(2)
	if n := h.do("numprocesses", map[string]any{"name": "lazy"})["numprocesses"]; n != 2 {
		t.Errorf("%v workers after the reload made the pool fixed, want its numprocesses 2", n)
	}
	if body, err := getWithin(h.socketAddr("front"), hang); err != nil || !strings.HasPrefix(body, "pid=") {
		t.Errorf("request to the pool made fixed: %q, %v", body, err)
	}
}

// TestPoolMadeElasticAgainIsNotIdleAtOnce: a pool made fixed by a
// reload, then on_demand again, counts its idle_timeout from then, not
// from the last connection it saw while it was elastic before: it used
// to stop its worker at once, "idle: no connection for 1s", while it had
// been serving all along.
func TestPoolMadeElasticAgainIsNotIdleAtOnce(t *testing.T) {
	const idle = time.Second
	h, next, reload := togglePool(t, idle)
	addr := h.socketAddr("front")
	if body, err := getWithin(addr, hang); err != nil || !strings.HasPrefix(body, "pid=") {
		t.Fatalf("first request: %q, %v", body, err)
	}
	lazy := next.Watchers[0]
	fixed := lazy
	fixed.OnDemand, fixed.IdleTimeout = false, 0
	next.Watchers = []configs.Watcher{fixed}
	reload()
	// Serve while fixed for longer than idle_timeout.
	for begin := time.Now(); time.Since(begin) < 2*idle; {
		if body, err := getWithin(addr, hang); err != nil || !strings.HasPrefix(body, "pid=") {
			t.Fatalf("request while fixed: %q, %v", body, err)
		}
	}
	next.Watchers = []configs.Watcher{lazy}
	again := time.Now()
	reload()
	ev := h.next("scale", func(ev events.Event) bool {
		return strings.Contains(ev.Fields["reason"].(string), "idle")
	})
	if d := time.Since(again); d < idle {
		t.Errorf("idle scale %v %v after on_demand came back, want none before idle_timeout %v", ev.Fields, d, idle)
	}
}

// TestSetOneElasticBoundSaysSetBoth: making a running pool elastic takes
// min_workers and max_workers in one set; a set of either alone is
// refused, and the refusal now says so, with the command to run.
func TestSetOneElasticBoundSaysSetBoth(t *testing.T) {
	web := testWatcher("web", "sleep", 2)
	web.Sockets = []string{"web"}
	h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{web}}, Options{})
	for _, tc := range []struct {
		opts map[string]any
		want string
	}{
		{map[string]any{"max_workers": 4.0}, "set min_workers and max_workers in one command: poolctl set web min_workers 2 max_workers 4"},
		{map[string]any{"min_workers": 2.0}, "set min_workers and max_workers in one command: poolctl set web min_workers 2 max_workers 4"},
	} {
		r := h.a.Do(context.Background(), Request{ID: "s", Command: "set", Properties: map[string]any{"name": "web", "options": tc.opts}})
		if r["errno"] != ErrnoBadProperty || !strings.Contains(fmt.Sprint(r["reason"]), tc.want) {
			t.Errorf("set %v of a fixed pool: %v; want errno %d saying %q", tc.opts, r, ErrnoBadProperty, tc.want)
		}
	}
	// A value wrong in itself gets its own error and no hint, which
	// repeated it ("poolctl set web min_workers -1 max_workers N").
	for _, opts := range []map[string]any{{"min_workers": -1.0}, {"min_workers": "abc"}, {"max_workers": -2.0}, {"max_workers": "x"}} {
		r := h.a.Do(context.Background(), Request{ID: "s", Command: "set", Properties: map[string]any{"name": "web", "options": opts}})
		if reason := fmt.Sprint(r["reason"]); r["errno"] != ErrnoBadProperty || strings.Contains(reason, "in one command") {
			t.Errorf("set %v of a fixed pool: %v; want errno %d without the hint to set both", opts, r, ErrnoBadProperty)
		}
	}
	h.do("set", map[string]any{"name": "web", "options": map[string]any{"min_workers": 2.0, "max_workers": 4.0}})
	if r := h.do("get", map[string]any{"name": "web", "keys": []any{"max_workers"}}); fmt.Sprint(r["options"].(Ordered).Values["max_workers"]) != "4" {
		t.Errorf("max_workers after the set of both: %v", r["options"])
	}
}
