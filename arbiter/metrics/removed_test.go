package metrics

import (
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/poold/poold/watcher/proctest"
)

// series counts the samples of family name for pool.
func series(fams map[string]*dto.MetricFamily, name, pool string) int {
	n := 0
	if f := fams[name]; f != nil {
		for _, m := range f.Metric {
			for _, l := range m.Label {
				if l.GetName() == "pool" && l.GetValue() == pool {
					n++
				}
			}
		}
	}
	return n
}

// TestRemovedPoolSeriesStayGone: after rm, the removed pool's restart
// counters and reload histogram used to come back at 0 for good, made
// again by the kill, reap and stop events of its workers, which poold
// publishes after remove (as circusd does). They go, and come back when a
// config reload adds the pool again. A pool that was never started has
// its restart series from the start, like the others.
func TestRemovedPoolSeriesStayGone(t *testing.T) {
	cfg := rigConfig()
	idle := serveWatcher("idle", 1)
	idle.Autostart = false
	cfg.Watchers = append(cfg.Watchers, serveWatcher("zz", 1), idle)
	r := newRig(t, cfg)

	// The exporter reads the pools that exist as it starts, without
	// waiting for them.
	var fams map[string]*dto.MetricFamily
	if !proctest.Poll(hang, func() bool {
		fams, _ = r.scrape()
		for _, pool := range []string{"web", "zz", "idle"} {
			if series(fams, "poold_worker_restarts_total", pool) != len(Reasons) ||
				series(fams, "poold_reload_duration_seconds", pool) != 1 {
				return false
			}
		}
		return true
	}) {
		for _, pool := range []string{"web", "zz", "idle"} {
			t.Errorf("pool %s: %d poold_worker_restarts_total series (want one per reason, %d), %d poold_reload_duration_seconds (want 1)",
				pool, series(fams, "poold_worker_restarts_total", pool), len(Reasons), series(fams, "poold_reload_duration_seconds", pool))
		}
	}

	r.do("rm", map[string]any{"name": "zz", "waiting": true})
	// zz's stop is published; once the reload of web that follows is
	// counted, the exporter has taken every event of zz's stop.
	r.do("reload", map[string]any{"name": "web", "waiting": true})
	proctest.Eventually(t, "the reload of web timed", func() bool {
		fams, _ = r.scrape()
		n, _ := value(fams, "poold_reload_duration_seconds", map[string]string{"pool": "web"})
		return n >= 1
	})
	for _, name := range []string{"poold_worker_restarts_total", "poold_reload_duration_seconds", "poold_pool_workers"} {
		if n := series(fams, name, "zz"); n != 0 {
			t.Errorf("%d %s series of the removed pool zz, want none", n, name)
		}
	}

	// The config still defines zz: a config reload adds it again.
	r.do("reloadconfig", map[string]any{"waiting": true})
	proctest.Eventually(t, "zz's series back at 0", func() bool {
		fams, _ = r.scrape()
		return series(fams, "poold_worker_restarts_total", "zz") == len(Reasons) &&
			series(fams, "poold_reload_duration_seconds", "zz") == 1
	})
	for _, reason := range Reasons {
		if v, _ := value(fams, "poold_worker_restarts_total", map[string]string{"pool": "zz", "reason": reason}); v != 0 {
			t.Errorf("zz added again: restarts{%s} = %v, want 0", reason, v)
		}
	}
}
