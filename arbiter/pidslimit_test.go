package arbiter

import (
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/poold/poold/watcher/spawn"
)

// TestPidsLimitLine: under a pids limit poold says at start what it uses,
// what it keeps free and what that leaves for workers, and warns when that
// is fewer than the workers the config starts (r55 container review: under
// docker --pids-limit 30 no worker started, and nothing said the limit
// could not hold them before every start failed).
func TestPidsLimitLine(t *testing.T) {
	for _, tc := range []struct {
		name    string
		b       spawn.PidsBudget
		workers int
		want    []string
	}{
		{"room", spawn.PidsBudget{Cgroup: "/sys/fs/cgroup/pids/c", Max: 100, InUse: 30, Poold: 16, Kept: 8, Left: 76}, 10,
			[]string{"[INFO]", "pids_max=100", "poold_threads=16", "in_use=30", "keeps_free=8", "left_for_workers=76", "workers=10", "cgroup=/sys/fs/cgroup/pids/c"}},
		{"too tight", spawn.PidsBudget{Cgroup: "/c", Max: 25, InUse: 17, Poold: 16, Kept: 8, Left: 1}, 4,
			[]string{"[WARN]", "some cannot start", "raise pids.max", "left_for_workers=1", "workers=4"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out strings.Builder
			logPidsLimit(hclog.New(&hclog.LoggerOptions{Output: &out}), tc.b, tc.workers)
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("%q lacks %q", out.String(), w)
				}
			}
		})
	}
}
