package metrics

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/proctest"
	"github.com/poold/poold/watcher/workertest"
)

// TestReloadDurationCountsEachRolloverOnce checks the exact number of
// poold_reload_duration_seconds samples each way of changing a pool
// adds: one per rollover (its workers replaced), whatever asked for it
// and however many keys changed, and none for a scale.
//
// Each step is followed by a reload command (one sample) as a barrier:
// the exporter handles events in order and the loop runs the settle
// callbacks in order, so once the barrier's sample is in, every sample
// of the step before it is too, and the count can be read exactly.
func TestReloadDurationCountsEachRolloverOnce(t *testing.T) {
	r := newRig(t, rigConfig())
	count := func() float64 {
		fams, _ := r.scrape()
		n, _ := value(fams, "poold_reload_duration_seconds", map[string]string{"pool": "web"})
		return n
	}
	set := func(opts map[string]any) func() {
		return func() { r.do("set", map[string]any{"name": "web", "options": opts, "waiting": true}) }
	}
	steps := []struct {
		name string
		want float64
		do   func()
	}{
		{"SIGHUP that changes env", 1, func() {
			next := rigConfig()
			next.Arbiter = configs.DefaultArbiter()
			next.Watchers[0].Env = append(next.Watchers[0].Env, "X=1")
			r.cfg.Store(next)
			r.sighup()
		}},
		{"config reload that only scales", 0, func() {
			next := rigConfig()
			next.Arbiter = configs.DefaultArbiter()
			next.Watchers[0].Env = append(next.Watchers[0].Env, "X=1")
			next.Watchers[0].NumProcesses = 3
			r.cfg.Store(next)
			r.do("reloadconfig", map[string]any{"waiting": true})
		}},
		{"set env", 1, set(map[string]any{"env": []any{workertest.Env + "=serve", "Y=2"}})},
		{"set numprocesses up", 0, set(map[string]any{"numprocesses": 4})},
		{"set numprocesses down", 0, set(map[string]any{"numprocesses": 2})},
		{"set of two keys that each need new workers", 1, set(map[string]any{
			"env": []any{workertest.Env + "=serve", "Y=3"}, "working_dir": os.TempDir()})},
		{"reload command", 1, func() { r.do("reload", map[string]any{"name": "web", "waiting": true}) }},
		{"incr", 0, func() { r.do("incr", map[string]any{"name": "web", "waiting": true}) }},
		{"decr", 0, func() { r.do("decr", map[string]any{"name": "web", "waiting": true}) }},
	}
	for _, s := range steps {
		before := count()
		s.do()
		r.do("reload", map[string]any{"name": "web", "waiting": true}) // the barrier
		want := before + s.want + 1
		proctest.Eventually(t, s.name+": the barrier reload timed", func() bool { return count() >= want })
		if got := count(); got != want {
			t.Errorf("%s: poold_reload_duration_seconds_count{pool=\"web\"} went up by %v, want %v",
				s.name, got-before-1, s.want)
		}
	}
}

// sighup re-reads the config as SIGHUP does and waits until the reload
// is applied and every pool it touched has settled.
func (r *rig) sighup() {
	r.t.Helper()
	last := func() time.Time {
		ctx, cancel := context.WithTimeout(context.Background(), hang)
		defer cancel()
		s, err := r.a.Snapshot(ctx)
		if err != nil {
			r.t.Fatal(err)
		}
		if !s.Config.LastReloadOK {
			r.t.Fatalf("config reload failed: %s", s.Config.LastError)
		}
		return s.Config.LastSuccess
	}
	t0 := last()
	r.a.Reload()
	proctest.Eventually(r.t, "the SIGHUP's config reload applied and settled", func() bool { return last().After(t0) })
}
