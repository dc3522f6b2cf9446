package arbiter

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/poold/poold/configs"
)

// A watcher's own oom_score_adj is used as set: its workers do not get
// poold's value + oomBump (spawn.GuardOOM), and one at or near poold's
// own makes poold as likely a victim as they are. Under the memory limit
// of poold's cgroup, that took poold and every worker with it (r62 M2:
// a watcher at 0, poold at 0, the start line claiming 500 above).

// oomAdjRisk is a watcher whose own oom_score_adj is less than oomBump
// above poold's, own, and the warning for it.
type oomAdjRisk struct {
	name, warning string
	adj           int
}

// oomAdjRisks lists the watchers whose oom_score_adj of their own is less
// than oomBump above own (at most 1000), poold's, under the memory
// limit of poold's cgroup limited.
func oomAdjRisks(watchers []configs.Watcher, own int, limited string) []oomAdjRisk {
	want := min(own+oomBump, 1000)
	var out []oomAdjRisk
	for _, w := range watchers {
		if w.OOMScoreAdj == nil || *w.OOMScoreAdj >= want {
			continue
		}
		n := *w.OOMScoreAdj
		how := fmt.Sprintf("is only %d above poold's oom_score_adj %d", n-own, own)
		if n <= own {
			how = fmt.Sprintf("is at or below poold's oom_score_adj %d", own)
		}
		out = append(out, oomAdjRisk{name: w.Name, adj: n, warning: fmt.Sprintf(
			"watchers.%s.oom_score_adj: %d %s, so under the memory limit of poold's cgroup %s the OOM killer may take poold, "+
				"and every worker with it, rather than one of this watcher's workers; remove oom_score_adj from the watcher "+
				"(its workers then start at %d, as the others do), or set it to at least %d", w.Name, n, how, limited, want, want)})
	}
	return out
}

// ownOOMAdj lists the watchers with an oom_score_adj of their own, as
// "web=0,api=900" ("" for none): the workers the start line's oom_score_adj
// does not apply to.
func ownOOMAdj(watchers []configs.Watcher) string {
	var out []string
	for _, w := range watchers {
		if w.OOMScoreAdj != nil {
			out = append(out, w.Name+"="+strconv.Itoa(*w.OOMScoreAdj))
		}
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}

// noteOOMAdj warns, under a memory limit of poold's cgroup, of each
// watcher whose oom_score_adj (oomAdjRisks) a start, set, add or reload
// brought and that it has not warned of at that value.
func (a *Arbiter) noteOOMAdj() {
	if a.oomLimited == "" {
		return
	}
	specs := make([]configs.Watcher, 0, len(a.watchers))
	for _, w := range a.watchers {
		specs = append(specs, w.Spec())
	}
	slices.SortFunc(specs, func(x, y configs.Watcher) int { return strings.Compare(x.Name, y.Name) })
	warned := make(map[string]int)
	for _, r := range oomAdjRisks(specs, a.oomOwn, a.oomLimited) {
		if n, ok := a.oomAdjWarned[r.name]; !ok || n != r.adj {
			a.log.Warn("a watcher's oom_score_adj leaves poold no safer than its workers under a memory limit", "problem", r.warning)
		}
		warned[r.name] = r.adj
	}
	a.oomAdjWarned = warned
}
