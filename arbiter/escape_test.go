package arbiter

import (
	"context"
	"testing"

	"github.com/poold/poold/configs"
)

// TestEscapeLooksAtLimitedWorkersInTurn: the look for workers that left
// their cgroup read /proc/PID/cgroup of every worker on every stats tick,
// idle or not: 5.5 % of a core from an idle poold with 10,000 workers
// (issue 18 wants under 1 %), for watchers with no limit that leaving
// would escape. It now looks only at watchers with a cgroup limit, and at
// most escapeBudget workers a tick, in turn.
func TestEscapeLooksAtLimitedWorkersInTurn(t *testing.T) {
	free := testWatcher("web", "sleep", 3)
	capped := testWatcher("capped", "sleep", 5)
	capped.PidsMax = 100
	h := start(t, &configs.Config{Watchers: []configs.Watcher{free, capped}}, Options{})
	needContainment(t, h)
	h.spawns(8)
	if !h.a.cgroupLimits.Load() {
		t.Fatal("a watcher has pids_max, and cgroupLimits is false")
	}
	ctx := context.Background()
	var seen []int
	for _, from := range []int{0, 2, 4} {
		looks, total := h.a.escapeLooks(ctx, from, 2)
		if total != 5 {
			t.Fatalf("escapeLooks from %d: %d workers to look at, want capped's 5 (web has no limit)", from, total)
		}
		for _, l := range looks {
			if l.name != "capped" {
				t.Errorf("escapeLooks from %d looks at %s's pid %d, which has no cgroup limit", from, l.name, l.pid)
			}
			seen = append(seen, l.pid)
		}
	}
	pids := h.do("list", map[string]any{"name": "capped"})["pids"].([]int)
	if len(seen) != 5 || len(uniq(seen)) != 5 || len(pids) != 5 {
		t.Errorf("three turns of 2 looked at %v, want each of capped's %v once", seen, pids)
	}
	h.do("set", map[string]any{"name": "capped", "options": map[string]any{"pids_max": 0}})
	if h.a.cgroupLimits.Load() {
		t.Error("no watcher has a cgroup limit any more, and the stats tick would still wake the loop to look")
	}
}

func uniq(xs []int) map[int]bool {
	m := map[int]bool{}
	for _, x := range xs {
		m[x] = true
	}
	return m
}
