package arbiter

import (
	"testing"
	"time"

	"github.com/poold/poold/configs"
)

// TestElasticNumprocessesInGetAndStatus: on an elastic pool, get
// numprocesses is the size in force, as circusd's is the number of
// workers it keeps (a script that gets it and sets it plus one must not
// shrink the pool); the configured numprocesses, which set numprocesses
// also changes and a stop and start begins at, is status's
// size.configured. After set numprocesses 4 then an autoscaler's move to
// 5, get said 5 and nothing showed the 4.
func TestElasticNumprocessesInGetAndStatus(t *testing.T) {
	w := testWatcher("el", "serve", 2)
	w.Sockets = []string{"front"}
	w.MinWorkers, w.MaxWorkers = 1, 6
	w.ScaleDownCooldown = time.Hour // nothing but the commands moves it
	h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("front")}, Watchers: []configs.Watcher{w}}, Options{})
	h.spawns(2)
	for _, tc := range []struct {
		cmd               string
		props             map[string]any
		current, configed int
	}{
		{"incr", map[string]any{"nb": 1}, 3, 2},
		{"set", map[string]any{"options": map[string]any{"numprocesses": 4}}, 4, 4},
		{"incr", map[string]any{"nb": 1}, 5, 4}, // as the autoscaler would
		{"decr", map[string]any{"nb": 3}, 2, 4},
	} {
		tc.props["name"], tc.props["waiting"] = "el", true
		h.do(tc.cmd, tc.props)
		got := h.do("get", map[string]any{"name": "el", "keys": []any{"numprocesses"}})["options"]
		if n := optionOf(got, "numprocesses"); n != tc.current {
			t.Errorf("%s %v: get numprocesses %v, want the size in force %d", tc.cmd, tc.props, n, tc.current)
		}
		if sz := h.size("el"); sz["current"] != tc.current || sz["configured"] != tc.configed {
			t.Errorf("%s %v: size %v, want current %d, configured %d", tc.cmd, tc.props, sz, tc.current, tc.configed)
		}
	}
}

// optionOf reads key from get's "options" (Ordered in process, a map
// once on the wire).
func optionOf(opts any, key string) any {
	switch o := opts.(type) {
	case Ordered:
		return o.Values[key]
	case map[string]any:
		return o[key]
	}
	return nil
}

// A stopped elastic pool's size in force is already its next start's
// (configured), which poolctl showed as the current size ("stopped 3
// (1..4)" with no process left): the size row now carries the workers
// alive, running, which poolctl shows for a stopping or stopped pool.
func TestElasticSizeSaysWorkersRunning(t *testing.T) {
	w := testWatcher("el", "serve", 2)
	w.Sockets = []string{"front"}
	w.MinWorkers, w.MaxWorkers = 1, 4
	w.ScaleDownCooldown = time.Hour
	h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("front")}, Watchers: []configs.Watcher{w}}, Options{})
	h.spawns(2)
	h.do("incr", map[string]any{"name": "el", "nb": 1, "waiting": true})
	if sz := h.size("el"); sz["running"] != 3 || sz["current"] != 3 {
		t.Errorf("running pool: size %v, want running 3, current 3", sz)
	}
	h.do("stop", map[string]any{"name": "el", "waiting": true})
	if sz := h.size("el"); sz["running"] != 0 || sz["current"] != 2 {
		t.Errorf("stopped pool: size %v, want running 0, current (the next start's) 2", sz)
	}
}
