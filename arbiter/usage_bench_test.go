package arbiter

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/poold/poold/configs"
)

// BenchmarkWorkerUsage is what a metrics scrape reads of /proc
// (WorkerUsage: every worker's tree, and since r57 each process's open
// descriptors and limit) for POOLD_PROCINFO_BENCH_N real `sleep`
// workers (default 1,000) in 10 watchers. It reports poold's CPU per
// scrape: the cost the README's metrics section quotes, before and after
// the fd count.
func BenchmarkWorkerUsage(b *testing.B) {
	n := 1000
	if v := os.Getenv("POOLD_PROCINFO_BENCH_N"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 10 {
			b.Fatalf("POOLD_PROCINFO_BENCH_N=%q: want an integer of at least 10", v)
		}
	}
	cfg := &configs.Config{Arbiter: configs.DefaultArbiter()}
	cfg.Arbiter.MaxProcesses = n + 100
	want := map[string]int{}
	for i := range 10 {
		w := configs.DefaultWatcher(fmt.Sprintf("w%d", i))
		w.Cmd, w.Args = "/bin/sleep", []string{"3600"}
		w.NumProcesses = n / 10
		w.Logs.Stdout, w.Logs.Stderr, w.Logs.Ring = configs.LogToNone, configs.LogToNone, 0
		w.GracefulTimeout = 5 * time.Second
		cfg.Watchers = append(cfg.Watchers, w)
		want[w.Name] = w.NumProcesses
	}
	// As poold's binary: the subreaper of its workers' orphans, which
	// spares a sample the read of every worker's cgroup.procs (members.go).
	h := start(b, cfg, Options{Log: hclog.NewNullLogger(), ReapOrphans: true})
	workers := 0
	for _, pids := range readyPidsOf(b, h, want) {
		workers += len(pids)
	}
	snap, err := h.a.Snapshot(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	if got := len(h.a.WorkerUsage(snap)); got != workers {
		b.Fatalf("usage of %d workers, want %d", got, workers)
	}
	cpu0 := selfCPU(b)
	for b.Loop() {
		h.a.WorkerUsage(snap)
	}
	b.ReportMetric(float64((selfCPU(b)-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/scrape")
}
