package arbiter

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher/procinfo"
)

// BenchmarkStatsRound is one round of the stats stream as poold runs it
// while a console or stats subscriber is open: the snapshot, the sample
// of every worker's /proc, the per-worker and per-watcher messages, and
// the JSON payload of each, which the ZeroMQ publisher encodes once per
// message (events.Event.MarshalPayload). The workers are real `sleep`
// processes, POOLD_PROCINFO_BENCH_N of them (default 1,000) in 10
// watchers. It reports the round's cost per worker (ns, allocations,
// bytes) and as % of a core at one round a second (stats_interval 1s).
func BenchmarkStatsRound(b *testing.B) {
	h, workers := benchSleepers(b)

	ctx := context.Background()
	bus := events.NewBus(nil)
	sub := bus.Subscribe(4*workers, "stat.")
	defer sub.Close()
	round := func() (msgs, size int) {
		snap, err := h.a.Snapshot(ctx)
		if err != nil {
			b.Fatal(err)
		}
		h.a.publishStats(bus, snap)
		for {
			select {
			case ev := <-sub.C():
				msgs++
				size += len(ev.MarshalPayload())
			default:
				return msgs, size
			}
		}
	}
	if msgs, _ := round(); msgs < workers {
		b.Fatalf("a round published %d messages for %d workers", msgs, workers)
	}

	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	cpu0, start := selfCPU(b), time.Now()
	msgs, size := 0, 0
	for b.Loop() {
		m, s := round()
		msgs, size = msgs+m, size+s
	}
	cpu := selfCPU(b) - cpu0
	wall := time.Since(start)
	runtime.ReadMemStats(&m1)
	per := float64(b.N) * float64(workers)
	b.ReportMetric(float64(wall.Nanoseconds())/per, "ns/worker")
	b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/per, "allocs/worker")
	b.ReportMetric(float64(m1.TotalAlloc-m0.TotalAlloc)/per, "B/worker")
	b.ReportMetric(float64(size)/float64(msgs), "B/msg")
	// CPU of the whole test process (the arbiter's loop and the GC
	// included) per round; at one round a second, ms/10 is % of a core.
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/round")
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N)/10*1000/float64(workers), "%core@1Hz/1000workers")
}

// benchSleepers starts POOLD_PROCINFO_BENCH_N (default 1,000) real
// `sleep` workers in 10 watchers and waits for them to be ready, under
// POOLD_BENCH_MEMORY_MAX when set.
func benchSleepers(b *testing.B) (*harness, int) {
	n := 1000
	if v := os.Getenv("POOLD_PROCINFO_BENCH_N"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 10 {
			b.Fatalf("POOLD_PROCINFO_BENCH_N=%q: want an integer of at least 10", v)
		}
	}
	// POOLD_BENCH_MEMORY_MAX=64M gives every watcher a memory_max: each
	// worker then runs in a memory cgroup of its own, whose charge and
	// peak stats and the stream read (cgmem.go).
	var memMax uint64
	if v := os.Getenv("POOLD_BENCH_MEMORY_MAX"); v != "" {
		var err error
		if memMax, err = configs.ParseSize(v); err != nil || memMax == 0 {
			b.Fatalf("POOLD_BENCH_MEMORY_MAX=%q: want a size (64M): %v", v, err)
		}
	}
	sleep := "/bin/sleep"
	if _, err := os.Stat(sleep); err != nil {
		b.Fatalf("benchmark needs %s: %v", sleep, err)
	}
	cfg := &configs.Config{Arbiter: configs.DefaultArbiter()}
	cfg.Arbiter.MaxProcesses = n + 100
	want := map[string]int{}
	for i := range 10 {
		w := configs.DefaultWatcher(fmt.Sprintf("w%d", i))
		w.Cmd, w.Args = sleep, []string{"3600"}
		w.NumProcesses = n / 10
		w.Logs.Stdout, w.Logs.Stderr, w.Logs.Ring = configs.LogToNone, configs.LogToNone, 0
		w.GracefulTimeout = 5 * time.Second
		w.MemoryMax = memMax
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
	return h, workers
}

// BenchmarkSnapshot is one Snapshot of benchSleepers' workers: the loop's
// copy of its state that the stats stream, the console, metrics and the
// systemd notifier take (the notifier also while poold is idle). It
// reports the loop's CPU per snapshot, in µs.
func BenchmarkSnapshot(b *testing.B) {
	h, _ := benchSleepers(b)
	ctx := context.Background()
	cpu0 := selfCPU(b)
	for b.Loop() {
		if _, err := h.a.Snapshot(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((selfCPU(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/snapshot")
}

// selfCPU is this process's user+system CPU time so far.
func selfCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkStatsCommand is `poolctl stats` of benchSleepers' workers as
// poold answers it: the request decoded, the loop's rows, the sample of
// every worker's /proc, the reply built and encoded. The sampler knows
// the workers (their argv and owner read), as every call but the first
// after they start. It reports the CPU of the whole test process per
// call (the loop and the GC included) and the reply's size.
func BenchmarkStatsCommand(b *testing.B) {
	h, workers := benchSleepers(b)
	ctx := context.Background()
	req := []byte(`{"id":"bench","command":"stats","properties":{}}`)
	first, _ := h.a.Handle(ctx, req)
	if n := bytes.Count(first, []byte(`"cmdline"`)); n < workers {
		b.Fatalf("stats reply shows %d processes of %d workers: %.200s", n, workers, first)
	}
	b.ReportAllocs()
	cpu0 := selfCPU(b)
	size := 0
	for b.Loop() {
		reply, _ := h.a.Handle(ctx, req)
		size = len(reply)
	}
	b.ReportMetric(float64((selfCPU(b)-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/call")
	b.ReportMetric(float64(size), "B/reply")
}

// BenchmarkStatsCommandFirst is BenchmarkStatsCommand's first call after
// the workers started: a sampler that has read none of them (a full
// scan of the host, every worker's argv and owner read), and a heap and
// encoder pool as cold as after poold sat idle (two GCs before each
// call, outside the figures). It reports the CPU of the whole test
// process and the wall time of the call alone.
func BenchmarkStatsCommandFirst(b *testing.B) {
	h, workers := benchSleepers(b)
	ctx := context.Background()
	req := []byte(`{"id":"bench","command":"stats","properties":{}}`)
	var cpu, wall time.Duration
	size := 0
	for b.Loop() {
		b.StopTimer()
		h.a.opts.Stats = procinfo.New()
		runtime.GC()
		runtime.GC()
		b.StartTimer()
		cpu0, start := selfCPU(b), time.Now()
		reply, _ := h.a.Handle(ctx, req)
		wall += time.Since(start)
		cpu += selfCPU(b) - cpu0
		size = len(reply)
		if n := bytes.Count(reply, []byte(`"cmdline"`)); n < workers {
			b.Fatalf("stats reply shows %d processes of %d workers: %.200s", n, workers, reply)
		}
	}
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/call")
	b.ReportMetric(float64(wall.Microseconds())/1000/float64(b.N), "wall-ms/call")
	b.ReportMetric(float64(size), "B/reply")
}
