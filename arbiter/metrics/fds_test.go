package metrics

import (
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/proctest"
)

// TestPoolFDUsageRatio: a pool whose worker's child has almost used up
// its descriptors shows it in one series per pool (r57b oncall M1: an
// fd leak was invisible to /metrics). The child holds 3 beyond stdio,
// 6 or 7 (stdin may be closed) of a soft limit of 8; the worker, 3 of 8.
func TestPoolFDUsageRatio(t *testing.T) {
	w := configs.DefaultWatcher("leaky")
	w.Cmd = "/bin/sh"
	w.Args = []string{"-c", `sleep 1000 3</dev/null 4</dev/null 5</dev/null & exec sleep 1000`}
	w.Rlimits = map[string]uint64{"nofile": 8}
	w.GracefulTimeout = 5 * time.Second
	calm := configs.DefaultWatcher("calm")
	calm.Cmd, calm.Args = "sleep", []string{"1000"}
	calm.Rlimits = map[string]uint64{"nofile": 100}
	calm.GracefulTimeout = 5 * time.Second
	r := newRig(t, &configs.Config{Watchers: []configs.Watcher{w, calm}})
	var got, procs, calmGot float64
	var ok, calmOK bool
	proctest.Eventually(t, "the child in the tree and the pools' fd ratios", func() bool {
		fams, _ := r.scrape()
		procs, _ = value(fams, "poold_worker_tree_processes", map[string]string{"pool": "leaky", "wid": "1"})
		got, ok = value(fams, "poold_pool_fd_usage_ratio", map[string]string{"pool": "leaky"})
		calmGot, calmOK = value(fams, "poold_pool_fd_usage_ratio", map[string]string{"pool": "calm"})
		return procs == 2 && ok && calmOK
	})
	child := 0
	for _, in := range r.do("stats", map[string]any{"name": "leaky"})["info"].(map[string]arbiter.ProcInfo) {
		if len(in.Children) == 1 {
			child = in.Children[0].PID
		}
	}
	if child == 0 {
		t.Fatal("stats shows no child under the leaky worker")
	}
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(child) + "/fd")
	if err != nil {
		t.Fatal(err)
	}
	if want := float64(len(ents)) / 8; got != want {
		t.Errorf("leaky: poold_pool_fd_usage_ratio %v, want the child's %d/8 = %v", got, len(ents), want)
	}
	if calmGot <= 0 || calmGot >= 0.1 {
		t.Errorf("calm: poold_pool_fd_usage_ratio %v, want a few fds of 100", calmGot)
	}
}
