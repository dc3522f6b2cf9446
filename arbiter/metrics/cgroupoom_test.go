package metrics

import (
	"testing"

	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher/proctest"
)

// TestCgroupOOMKillsAreCounted (r62 M1, r63 memstats b): the OOM kills
// of poold's own cgroup that no worker claimed (a worker's child, with
// no memory_max) were told in the log and an arbiter.unhealthy event
// only; poold_cgroup_oom_kills_total counts them, from 0, and not the
// kills under a pool's memory_max (poold_worker_oom_kills_total).
func TestCgroupOOMKillsAreCounted(t *testing.T) {
	r := newRig(t, rigConfig())
	fams, _ := r.scrape()
	if got, ok := value(fams, "poold_cgroup_oom_kills_total", nil); !ok || got != 0 {
		t.Fatalf("poold_cgroup_oom_kills_total before any kill: %v (present %v), want 0", got, ok)
	}
	r.bus.Publish("web", events.KindUnhealthy, map[string]any{"process_pid": 1, "process_id": 1, "oom_kills": 5})
	r.bus.Publish("", events.KindUnhealthy, map[string]any{"oom_kills": 2, "cgroup": "/sys/fs/cgroup/memory/box (memory limit 1 bytes)"})
	r.bus.Publish("", events.KindUnhealthy, map[string]any{"oom_kills": 1, "cgroup": "/sys/fs/cgroup/memory/box (memory limit 1 bytes)", "watcher": "web"})
	proctest.Eventually(t, "poold_cgroup_oom_kills_total at 3", func() bool {
		fams, _ := r.scrape()
		got, _ := value(fams, "poold_cgroup_oom_kills_total", nil)
		return got == 3
	})
}
