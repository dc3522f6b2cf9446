package arbiter

import (
	"testing"
	"time"

	"github.com/poold/poold/arbiter/upgrade"
	"github.com/poold/poold/watcher/proctest"
)

// TestUpgradeFromAnImageWithoutConfiguredSize: a state handed over by an
// image that did not keep an elastic pool's configured numprocesses
// apart from its size (no "configured") gives the pool the file's
// numprocesses, not the size in force: a cold on_demand pool of
// numprocesses 3 keeps its bounds 0..3 rather than 0..1.
func TestUpgradeFromAnImageWithoutConfiguredSize(t *testing.T) {
	cfg := onDemandConfig("serve", 0, 0)
	cfg.Watchers[0].NumProcesses = 3
	old := start(t, cfg, Options{NoCgroups: true})
	proctest.Eventually(t, "the pool is active", func() bool {
		return old.do("status", map[string]any{"name": "lazy"})["status"] == "active"
	})
	st := onLoop(t, old.a, func() any { return old.a.state(time.Now()) }).(*upgrade.State)
	for i := range st.Watchers {
		st.Watchers[i].Configured = nil // as an older image writes it
	}
	next := start(t, st.Config, Options{NoCgroups: true, Adopt: st})
	if sz := next.size("lazy"); sz["current"] != 0 || sz["max"] != 3 {
		t.Errorf("adopted cold pool size %v, want current 0, max 3 (its numprocesses)", sz)
	}
}
