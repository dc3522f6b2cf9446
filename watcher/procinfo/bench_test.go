package procinfo

import (
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// benchProcs is how many sleeping processes the benchmarks sample; the
// target is 1,000 workers sampled once a second for well under 5% of a core.
func benchProcs(b *testing.B) int {
	if v := os.Getenv("POOLD_PROCINFO_BENCH_N"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			b.Fatalf("POOLD_PROCINFO_BENCH_N=%q: want a positive integer", v)
		}
		return n
	}
	return 1000
}

// spawnSleepers starts n `sleep 3600` processes and kills them, by pid,
// when the benchmark ends.
func spawnSleepers(b *testing.B, n int) []int {
	b.Helper()
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		b.Fatalf("benchmark needs the sleep program: %v", err)
	}
	cmds := make([]*exec.Cmd, 0, n)
	b.Cleanup(func() {
		for _, c := range cmds {
			_ = c.Process.Kill()
		}
		for _, c := range cmds {
			_ = c.Wait()
		}
	})
	pids := make([]int, 0, n)
	for range n {
		c := exec.Command(sleep, "3600")
		if err := c.Start(); err != nil {
			b.Fatalf("start sleeper %d of %d: %v", len(cmds)+1, n, err)
		}
		cmds = append(cmds, c)
		pids = append(pids, c.Process.Pid)
	}
	return pids
}

// cpuTime is this process's user+system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCost(b *testing.B, cpu0 time.Duration, start time.Time) {
	cpu := cpuTime(b) - cpu0
	b.ReportMetric(float64(time.Since(start).Microseconds())/1000/float64(b.N), "wall-ms/sample")
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/sample")
	// At one sample a second, cpu-ms/sample divided by 10 is % of a core.
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N)/10, "%core@1Hz")
}

// BenchmarkSample is the stats loop's steady state: the same pids sampled
// again and again, argv and owner already known.
func BenchmarkSample(b *testing.B) {
	pids := spawnSleepers(b, benchProcs(b))
	s := New()
	m, err := s.Sample(pids)
	if err != nil {
		b.Fatal(err)
	}
	if len(m) != len(pids) {
		b.Fatalf("sampled %d of %d pids", len(m), len(pids))
	}
	b.ReportAllocs()
	cpu0, start := cpuTime(b), time.Now()
	for b.Loop() {
		if _, err := s.Sample(pids); err != nil {
			b.Fatal(err)
		}
	}
	reportCost(b, cpu0, start)
}

// BenchmarkSampleCold is a first sample: every process is new, so argv and
// owner are read too (a fresh poold, or 1,000 workers replaced at once).
func BenchmarkSampleCold(b *testing.B) {
	pids := spawnSleepers(b, benchProcs(b))
	b.ReportAllocs()
	cpu0, start := cpuTime(b), time.Now()
	for b.Loop() {
		if _, err := New().Sample(pids); err != nil {
			b.Fatal(err)
		}
	}
	reportCost(b, cpu0, start)
}

// BenchmarkInfoOne is a command handler asking for one process on a host
// running 1,000 others: the whole /proc scan for one answer.
func BenchmarkInfoOne(b *testing.B) {
	pids := spawnSleepers(b, benchProcs(b))
	s := New()
	b.ReportAllocs()
	cpu0, start := cpuTime(b), time.Now()
	for b.Loop() {
		if _, err := s.Info(pids[0]); err != nil {
			b.Fatal(err)
		}
	}
	reportCost(b, cpu0, start)
}

func BenchmarkSelf(b *testing.B) {
	s := New()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Self(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTreeUsage is a metrics scrape's read of every worker's
// process tree (ReadTreeUsage) with benchProcs sleepers as the workers.
// full: each read scans the host, as every scrape does when Prometheus
// scrapes less often than FullScanEvery (every 15 s, its default);
// known: the trees are known from a scan less than FullScanEvery ago.
func BenchmarkTreeUsage(b *testing.B) {
	pids := spawnSleepers(b, benchProcs(b))
	for _, full := range []bool{true, false} {
		name := "known"
		if full {
			name = "full"
		}
		b.Run(name, func(b *testing.B) {
			s := New()
			if _, err := s.ReadTreeUsage(pids); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			cpu0, start := cpuTime(b), time.Now()
			for b.Loop() {
				if full {
					s.mu.Lock()
					s.scanAt = time.Time{}
					s.mu.Unlock()
				}
				m, err := s.ReadTreeUsage(pids)
				if err != nil {
					b.Fatal(err)
				}
				if len(m) != len(pids) {
					b.Fatalf("read %d of %d pids", len(m), len(pids))
				}
			}
			reportCost(b, cpu0, start)
		})
	}
}

// BenchmarkReadFDs is a scrape's count of open descriptors (ReadFDs) of
// benchProcs sleepers: stat, from the size of /proc/PID/fd where the
// kernel tells it (Linux 6.2 and later); list, by reading each directory.
func BenchmarkReadFDs(b *testing.B) {
	pids := spawnSleepers(b, benchProcs(b))
	s := New()
	for _, way := range []string{"stat", "list"} {
		b.Run(way, func(b *testing.B) {
			if way == "stat" && !fdDirSizeCounts() {
				b.Fatal("this kernel does not tell the open descriptors in the size of /proc/PID/fd")
			}
			buf := make([]byte, fdBufSize)
			b.ReportAllocs()
			cpu0, start := cpuTime(b), time.Now()
			for b.Loop() {
				if way == "stat" {
					if got := s.ReadFDs(pids); len(got) != len(pids) {
						b.Fatalf("read %d of %d pids", len(got), len(pids))
					}
					continue
				}
				for _, pid := range pids {
					if _, ok := readFDUse(s.pidDir(pid), pid, true, false, buf); !ok {
						b.Fatalf("pid %d: not read", pid)
					}
				}
			}
			reportCost(b, cpu0, start)
		})
	}
}

// BenchmarkOwnFDs is the count of poold's own descriptors that a start
// near RLIMIT_NOFILE makes (arbiter's fd reserve), with 5,000 open (a
// poold of 2,500 workers with logs): stat where the kernel tells the
// count in the size of /proc/self/fd; list, a readdir.
func BenchmarkOwnFDs(b *testing.B) {
	for range 5000 {
		f, err := os.Open(os.DevNull)
		if err != nil {
			b.Fatalf("open %s: %v (RLIMIT_NOFILE too low for the benchmark?)", os.DevNull, err)
		}
		b.Cleanup(func() { f.Close() })
	}
	for _, way := range []string{"stat", "list"} {
		b.Run(way, func(b *testing.B) {
			if way == "stat" && !fdDirSizeCounts() {
				b.Fatal("this kernel does not tell the open descriptors in the size of /proc/PID/fd")
			}
			buf := make([]byte, fdBufSize)
			for b.Loop() {
				var n int
				var err error
				if way == "stat" {
					n, err = OwnFDs()
				} else {
					n, err = countEntries("/proc/self/fd", buf)
				}
				if err != nil || n < 5000 {
					b.Fatalf("%d fds, %v", n, err)
				}
			}
		})
	}
}
