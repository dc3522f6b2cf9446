package arbiter

import (
	"strings"
	"testing"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/spawn"
)

// A watcher's own oom_score_adj at or near poold's, under a memory limit
// of poold's cgroup, is warned of by name with both values and what to
// do, and the start line names the watchers whose workers keep their own
// value rather than claiming 500 above for all (r62 M2).
func TestOOMScoreAdjOfAWatcherNearPooldsIsWarned(t *testing.T) {
	const limited = "/sys/fs/cgroup/pod (memory limit 209715200 bytes)"
	adj := func(n int) *int { return &n }
	ws := []configs.Watcher{
		{Name: "low", OOMScoreAdj: adj(0)},
		{Name: "near", OOMScoreAdj: adj(300)},
		{Name: "high", OOMScoreAdj: adj(600)},
		{Name: "plain"},
	}
	got := oomAdjRisks(ws, 100, limited)
	if len(got) != 2 || got[0].name != "low" || got[1].name != "near" {
		t.Fatalf("risks %v, want low and near", got)
	}
	for i, want := range []string{
		"watchers.low.oom_score_adj: 0 is at or below poold's oom_score_adj 100, so under the memory limit of poold's cgroup " + limited +
			" the OOM killer may take poold, and every worker with it, rather than one of this watcher's workers; " +
			"remove oom_score_adj from the watcher (its workers then start at 600, as the others do), or set it to at least 600",
		"watchers.near.oom_score_adj: 300 is only 200 above poold's oom_score_adj 100,",
	} {
		if !strings.HasPrefix(got[i].warning, want) {
			t.Errorf("warning %q, want it to begin %q", got[i].warning, want)
		}
	}
	// poold at 985 (a Burstable pod's, not lowered): 1000 is enough.
	if got := oomAdjRisks([]configs.Watcher{{Name: "top", OOMScoreAdj: adj(1000)}}, 985, limited); len(got) != 0 {
		t.Errorf("risks %v for a watcher at 1000, poold at 985: want none", got)
	}
	lines := oomRisks(limited, 200<<20, "", spawn.OOMScores{Own: 100, Workers: 600}, nil, ws)
	if len(lines) != 1 || lines[0].warn {
		t.Fatalf("start lines %v, want one info line", lines)
	}
	if s := lines[0].String(); !strings.Contains(s, "except those of the watchers with an oom_score_adj of their own") ||
		!strings.Contains(s, "watchers_own_oom_score_adj=high=600,low=0,near=300") {
		t.Errorf("start line %q does not name the watchers that keep their own oom_score_adj", s)
	}
}
