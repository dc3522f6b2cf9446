package metrics

import (
	"testing"
	"time"

	"github.com/poold/poold/watcher/proctest"
	"github.com/poold/poold/watcher/workertest"
)

// TestStopKillsAreCounted: a job runner's owner had nothing to alert on
// when a stop cut jobs short (r59b jobs trial): a worker that does not
// stop within graceful_timeout is SIGKILLed, and only a WARN line and the
// exit event's reason said so. poold_worker_stop_kills_total counts them;
// a worker that stops on its signal is not counted.
func TestStopKillsAreCounted(t *testing.T) {
	cfg := rigConfig()
	stubborn := serveWatcher("stubborn", 2)
	stubborn.Env = []string{workertest.Env + "=stubborn"}
	stubborn.GracefulTimeout = 200 * time.Millisecond
	cfg.Watchers = append(cfg.Watchers, stubborn)
	r := newRig(t, cfg)
	r.waitReady()
	kills := func(pool string) float64 {
		fams, _ := r.scrape()
		n, ok := value(fams, "poold_worker_stop_kills_total", map[string]string{"pool": pool})
		if !ok {
			t.Fatalf("no poold_worker_stop_kills_total series for pool %s", pool)
		}
		return n
	}
	if a, b := kills("web"), kills("stubborn"); a != 0 || b != 0 {
		t.Fatalf("before any stop: web %v, stubborn %v, want 0 and 0", a, b)
	}
	// web first: the exporter takes events in order, so once stubborn's
	// two kills are counted, web's stop is in too.
	r.do("stop", map[string]any{"name": "web", "waiting": true})
	r.do("stop", map[string]any{"name": "stubborn", "waiting": true})
	proctest.Eventually(t, "stubborn's two workers counted as killed at graceful_timeout", func() bool { return kills("stubborn") >= 2 })
	if a, b := kills("web"), kills("stubborn"); a != 0 || b != 2 {
		t.Errorf("after stops: web %v (stops on SIGTERM), stubborn %v (ignores it), want 0 and 2", a, b)
	}
}
