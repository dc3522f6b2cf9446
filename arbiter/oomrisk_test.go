package arbiter

import (
	"errors"
	"strings"
	"testing"

	"github.com/poold/poold/watcher/spawn"
)

// What poold says of the OOM killer at start and in --check, by the
// oom_score_adj values it read and could set: it claims that a worker
// goes first only with workers a whole oomBump above it, and warns of a
// Burstable pod's poold at 985 that it could not lower (workers at 1000,
// 15 points above: the r57b review's pod, where the OOM killer took
// poold) and of memory.oom.group = 1, which kills everything at once.
func TestOOMRisks(t *testing.T) {
	const limited = "/sys/fs/cgroup/pod (memory limit 209715200 bytes)"
	eacces := errors.New("write 500 to /proc/self/oom_score_adj: permission denied")
	cases := []struct {
		name    string
		limited string
		group   string
		sc      spawn.OOMScores
		err     error
		want    []string // each line's words, in order; "!" first: a warning
	}{
		{"plain host, poold at 0", limited, "", spawn.OOMScores{Own: 0, Workers: 500}, nil,
			[]string{"workers start with an oom_score_adj 500 above poold's"}},
		{"burstable, lowered with CAP_SYS_RESOURCE", limited, "", spawn.OOMScores{Own: 500, Workers: 1000, Lowered: true, LoweredFrom: 985}, nil,
			[]string{"workers start with an oom_score_adj 500 above poold's poold_lowered_from=985"}},
		{"burstable, cannot lower", limited, "", spawn.OOMScores{Own: 985, Workers: 1000, LowerErr: eacces}, nil,
			[]string{"!workers start only 15 above poold's oom_score_adj poold_oom_score_adj=985 workers_oom_score_adj=1000 margin_bytes=3145728 cannot_lower=write 500"}},
		{"besteffort at 1000", limited, "", spawn.OOMScores{Own: 1000, Workers: 1000, LowerErr: eacces}, nil,
			[]string{"!workers start only 0 above poold's oom_score_adj margin_bytes=0"}},
		{"oom.group, no limit", "", "/sys/fs/cgroup/memory.oom.group", spawn.OOMScores{}, nil,
			[]string{"!memory.oom.group = 1 singleProcessOOMKill file=/sys/fs/cgroup/memory.oom.group"}},
		{"oom.group and a limit", limited, "/sys/fs/cgroup/memory.oom.group", spawn.OOMScores{Own: 0, Workers: 500}, nil,
			[]string{"!kills poold and every worker at once memory_max Guaranteed QoS", "workers start with an oom_score_adj 500 above"}},
		{"foreign /proc", limited, "", spawn.OOMScores{}, errors.New("/proc is not of poold's pid namespace"),
			[]string{"!cannot give its workers a higher oom_score_adj memory_max error=/proc is not"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := oomRisks(c.limited, 200<<20, c.group, c.sc, c.err, nil)
			if len(got) != len(c.want) {
				t.Fatalf("%d lines %v, want %d", len(got), got, len(c.want))
			}
			for i, w := range c.want {
				warn := strings.HasPrefix(w, "!")
				if got[i].warn != warn {
					t.Errorf("line %d %q: warn %v, want %v", i, got[i].String(), got[i].warn, warn)
				}
				line := got[i].String()
				for _, part := range strings.Fields(strings.TrimPrefix(w, "!")) {
					if !strings.Contains(line, part) {
						t.Errorf("line %d %q lacks %q", i, line, part)
					}
				}
				if !warn && strings.Contains(line, "may take poold") {
					t.Errorf("line %d %q: an info line that warns", i, line)
				}
			}
		})
	}
}
