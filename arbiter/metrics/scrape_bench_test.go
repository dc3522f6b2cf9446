package metrics

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/watcher"
)

// benchSource is a Source of one pool of n workers whose usage is made
// up: what the exporter itself costs, without /proc.
type benchSource struct {
	snap  arbiter.Snapshot
	usage map[int]arbiter.Usage
}

func newBenchSource(n int) *benchSource {
	w := arbiter.WatcherSnapshot{Name: "web", Status: watcher.Active, Shown: watcher.Active, Target: n}
	usage := make(map[int]arbiter.Usage, n)
	now := time.Now()
	for i := range n {
		pid := 100000 + i
		w.Processes = append(w.Processes, watcher.Process{Pid: pid, Wid: i + 1, State: watcher.ProcReady, Started: now})
		w.Slots = append(w.Slots, watcher.SlotInfo{Wid: i + 1, State: watcher.ProcReady, Pid: pid})
		usage[pid] = arbiter.Usage{RSS: 40960, CPUSeconds: 0.01, TreeRSS: 40960, TreeCPUSeconds: 0.01, TreeProcesses: 1}
	}
	return &benchSource{snap: arbiter.Snapshot{Taken: now, Watchers: []arbiter.WatcherSnapshot{w}}, usage: usage}
}

func (s *benchSource) Snapshot(context.Context) (arbiter.Snapshot, error) { return s.snap, nil }
func (s *benchSource) ReadWorkerUsage(context.Context, arbiter.Snapshot) map[int]arbiter.Usage {
	return s.usage
}
func (s *benchSource) OnSettled(context.Context, string, func(time.Time, bool)) bool {
	return false
}

// BenchmarkScrapeEncode is one /metrics scrape of n workers (default
// 10,000; POOLD_METRICS_BENCH_N) through the handler, gzip asked as
// Prometheus does, with the workers' usage given: the exporter's own
// cost, beside what reading /proc costs (procinfo's BenchmarkTreeUsage).
func BenchmarkScrapeEncode(b *testing.B) {
	n := 10000
	if v := os.Getenv("POOLD_METRICS_BENCH_N"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n <= 0 {
			b.Fatalf("POOLD_METRICS_BENCH_N=%q: want a positive integer", v)
		}
	}
	h := New(Options{Source: newBenchSource(n)}).Handler()
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		req.Header.Set("Accept-Encoding", "gzip")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("scrape: %d %s", rec.Code, rec.Body)
		}
		_, _ = io.Copy(io.Discard, rec.Body)
	}
}
