package arbiter

import (
	"context"
	"runtime"
	"testing"
)

// BenchmarkMembers is what a sample reads to find the processes of
// benchSleepers' workers that daemonized (none do): "procs" reads every
// worker's cgroup.procs, as where poold is no subreaper; "children"
// lists poold's children instead, as its subreaper (members.go). It
// reports the CPU of one such read for all the workers, and its
// allocations.
func BenchmarkMembers(b *testing.B) {
	h, workers := benchSleepers(b)
	snap, err := h.a.Snapshot(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	rows := rowsOf(snap)
	if len(rows) != workers || rows[0].cgroup == "" {
		b.Fatalf("%d rows for %d workers, the first's cgroup %q: want a cgroup each (run as root)", len(rows), workers, rows[0].cgroup)
	}
	for _, c := range []struct {
		name      string
		subreaper bool
	}{{"procs", false}, {"children", true}} {
		b.Run(c.name, func(b *testing.B) {
			h.a.subreaper.Store(c.subreaper)
			defer h.a.subreaper.Store(true)
			h.a.members(rows) // the buffers grow once
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			cpu0 := selfCPU(b)
			for b.Loop() {
				h.a.members(rows)
			}
			runtime.ReadMemStats(&m1)
			b.ReportMetric(float64((selfCPU(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/round")
			b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/float64(b.N), "allocs/round")
		})
	}
}
