package metrics

import (
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/proctest"
)

// TestWorkerTreeUsage: a worker's tree metrics count what its children
// use, as a gunicorn master's workers, while its own stay its own: a
// shell whose subshell burned CPU and ended (reaped by the shell) and
// which then runs a sleep under it.
func TestWorkerTreeUsage(t *testing.T) {
	w := configs.DefaultWatcher("tree")
	w.Cmd = "/bin/sh"
	w.Args = []string{"-c", `i=0; (while [ $i -lt 400000 ]; do i=$((i+1)); done); sleep 1000 & wait`}
	w.GracefulTimeout = 5 * time.Second
	r := newRig(t, &configs.Config{Watchers: []configs.Watcher{w}})
	pool := map[string]string{"pool": "tree", "wid": "1"}
	var ownCPU, treeCPU, ownRSS, treeRSS, procs float64
	proctest.Eventually(t, "the subshell's CPU and the sleep in the tree", func() bool {
		fams, _ := r.scrape()
		ownCPU, _ = value(fams, "poold_worker_cpu_seconds_total", pool)
		treeCPU, _ = value(fams, "poold_worker_tree_cpu_seconds_total", pool)
		ownRSS, _ = value(fams, "poold_worker_resident_memory_bytes", pool)
		treeRSS, _ = value(fams, "poold_worker_tree_resident_memory_bytes", pool)
		procs, _ = value(fams, "poold_worker_tree_processes", pool)
		return procs == 2 && treeCPU >= ownCPU+0.05 && treeRSS > ownRSS && ownRSS > 0
	})
	t.Logf("own cpu %.2fs rss %.0f; tree cpu %.2fs rss %.0f, %v processes", ownCPU, ownRSS, treeCPU, treeRSS, procs)
}
