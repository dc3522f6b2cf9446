package main

import (
	"os"
	"strconv"
	"syscall"
	"testing"

	"github.com/poold/poold/watcher/proctest"
)

const burstConfig = `
[arbiter]
ENDPOINTS
[watchers.s]
cmd = "sleep"
args = ["3600"]
numprocesses = 200
stdout_log = "none"
stderr_log = "none"
log_ring = 0
`

// TestBurstOfExitsCostsFewThreads kills half of 200 workers at once: the
// clean-up of their cgroups must not give each exit an OS thread of its
// own (before: 60-75 threads more, parked for good; issue 18 asks for
// under 20 threads at 10,000 workers).
func TestBurstOfExitsCostsFewThreads(t *testing.T) {
	p := startPoold(t, burstConfig)
	needCgroups(t, p)
	c := dialControl(t, p)
	pids := func() []int {
		r := call(t, c, "list", map[string]any{"name": "s"})
		raw, _ := r["pids"].([]any)
		out := make([]int, 0, len(raw))
		for _, v := range raw {
			if f, ok := v.(float64); ok {
				out = append(out, int(f))
			}
		}
		return out
	}
	var before []int
	proctest.Eventually(t, "200 workers", func() bool {
		before = pids()
		return len(before) == 200
	})
	threads0 := threadsOf(t, p.cmd.Process.Pid)
	killed := map[int]bool{}
	for _, pid := range before[:100] {
		killed[pid] = true
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	proctest.Eventually(t, "the 100 killed workers replaced", func() bool {
		now := pids()
		for _, pid := range now {
			if killed[pid] {
				return false
			}
		}
		return len(now) == 200
	})
	threads1 := threadsOf(t, p.cmd.Process.Pid)
	t.Logf("poold's threads: %d before, %d after 100 exits at once", threads0, threads1)
	if threads1 > threads0+10 {
		t.Errorf("poold has %d threads after a burst of 100 exits, %d before: the burst made threads that stay", threads1, threads0)
	}
}

// threadsOf counts the threads of pid.
func threadsOf(t *testing.T, pid int) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	if err != nil {
		t.Fatalf("threads of poold: %v", err)
	}
	return len(ents)
}
