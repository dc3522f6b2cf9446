package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"
)

// The -tenk section: poold with N tiny static workers (tinyworker.c.txt)
// on one shared socket, for each N of -tenk (1000,10000 for the README).
// Against the targets: spawn all within 1.5x the fork/exec floor
// of the same run, a kill -9 of 1 % of them each replaced within 50 ms,
// `poolctl status` under 50 ms, idle CPU under 1 % and RSS under 150 MiB
// with nobody watching, `stats` of all of them under 500 ms, and fewer
// than 20 threads in poold. Beside them, what a /metrics scrape costs
// (tenkscrape.go).

const (
	tenkStatusRuns = 20
	tenkStatsRuns  = 5
)

// tenkSection runs the section for each size; a size whose limits do not
// fit is reported and skipped.
func (b *bench) tenkSection(ctx context.Context) error {
	worker, err := b.buildTiny(ctx)
	if errors.Is(err, errNoCompiler) {
		b.logf("tenk: skipped: %v", err)
		b.res.note("tenk: skipped: %v", err)
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, n := range b.o.tenk {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if lim, ok := nofile(tenkNofile); !ok {
			b.res.note("tenk N=%d: skipped: RLIMIT_NOFILE is %d, poold needs about %d fds; raise ulimit -n (the hard limit needs root with CAP_SYS_RESOURCE)", n, lim, tenkNofile)
			continue
		}
		if err := b.tenk(ctx, worker, n); err != nil {
			b.res.note("tenk N=%d failed: %v", n, err)
			errs = append(errs, fmt.Errorf("N=%d: %w", n, err))
		}
		b.procs.cleanup(3 * time.Second)
		b.board.drain()
	}
	b.res.note("tenk: tiny static C workers (gcc -static -O2), stdout_log/stderr_log \"none\" and log_ring 0; floor: a plain fork/exec loop of the same worker; kills: %d%% of the workers, one at a time (each new worker alive) and then all at once (each replacement's alive time from the first kill; the floor's burst: the fork/exec loop kills as many of its own workers at once, reaps each in turn and forks its replacement at once; \"(floor: cgroups)\": the same once each floor worker is moved, untimed, into a cgroup v2 of its own, each replacement cloned into its predecessor's cgroup once that says it is empty); idle over -window after 2 s of settling; /metrics: the first scrape before the idle window, then scrapes every -scrape-every over another -window (poold's CPU per scrape from its schedstat around each); status and stats as whole poolctl processes; spawn CPU per worker: read when the last worker is alive, the manager's (all of poold's threads; the floor's fork loop thread) and the workers' own (their exec steps included); stop all: poold's from its SIGTERM to its exit, the floor's its workers each moved (untimed) into a cgroup v2 of its own, then SIGTERM to each, the reap of each in fork order and the rmdir of each cgroup", 1)
	return errors.Join(errs...)
}

// tenk measures one size: the floor, then poold.
func (b *bench) tenk(ctx context.Context, worker string, n int) error {
	b.logf("tenk: floor with %d tiny workers", n)
	fr, err := b.floorSpawn(ctx, worker, n)
	if err != nil {
		return err
	}
	floor, floorCPU := fr.spawn, fr.cpu
	if b.o.tenkNoCgroups {
		b.res.note("tenk N=%d: poold without cgroups (-tenk-no-cgroups: cgroup filesystems read-only), containing workers by process group", n)
	}
	if fr.stopWhy != "" {
		b.res.note("tenk N=%d: the floor's stop had no cgroups: %s", n, fr.stopWhy)
	}
	if fr.burstCgWhy != "" {
		b.res.note("tenk N=%d: no burst floor with cgroups: %s", n, fr.burstCgWhy)
	}
	b.logf("tenk: poold with %d tiny workers", n)
	b.board.drain()
	in, t0, err := b.startTenkPoold(worker, n)
	if err != nil {
		return err
	}
	defer in.stop(30 * time.Second)
	as, err := b.board.waitN(ctx, n, spawnTimeout(n))
	if err != nil {
		return fmt.Errorf("%w; log: %s", err, in.logTail())
	}
	spawn := ms(last(as).Sub(t0))
	var pooldCPU spawnCPU
	pooldCPU.manager, _ = taskCPU(in.p.pid())
	pooldCPU.workers, pooldCPU.n = workersCPU(alivePids(as))
	row := func(measure, unit string) *row { return b.res.add("tenk", fmt.Sprintf("N=%d %s", n, measure), unit) }
	rs := row("spawn all alive", "ms").one(sPoold, spawn).one(sFloor, floor)
	rs.target("<= 1.5x floor", spawn <= 1.5*floor)
	cpuRows(row, pooldCPU, floorCPU)
	if err := b.waitControl(ctx, in); err != nil {
		return err
	}
	pid := in.p.pid()
	threads := []float64{float64(countTasks(pid))}
	// Before the idle window, so that the window's first scrape comes
	// more than procinfo.FullScanEvery later, as every scrape every 15 s
	// does.
	if err := b.tenkFirstScrape(in, n, row); err != nil {
		return err
	}

	s, err := b.idle2(ctx, pid)
	if err != nil {
		return err
	}
	row("idle CPU over "+b.o.window.String(), "%").one(sPoold, s.cpuPct).target("< 1%", s.cpuPct < 1)
	row("idle RSS max", "MiB").one(sPoold, s.rssMax).target("< 150 MiB", s.rssMax < 150)
	threads = append(threads, float64(countTasks(pid)))
	if err := b.tenkScraped(ctx, in, n, s, row); err != nil {
		return err
	}

	status, err := timedRuns(tenkStatusRuns, filepath.Join(b.o.bin, "poolctl"), "--endpoint", in.ctl, "status")
	if err != nil {
		return err
	}
	row("poolctl status", "ms").set(sPoold, newStat(status)).target("< 50 ms", newStat(status).Median < 50)
	stats, err := timedRuns(tenkStatsRuns, filepath.Join(b.o.bin, "poolctl"), "--endpoint", in.ctl, "--json", "--timeout", "60s", "stats", "web")
	if err != nil {
		return err
	}
	row("poolctl stats web (first)", "ms").one(sPoold, stats[0])
	rst := row("poolctl stats web (then)", "ms").set(sPoold, newStat(stats[1:]))
	rst.target("< 500 ms", newStat(stats[1:]).Median < 500)
	threads = append(threads, float64(countTasks(pid)))

	if err := b.tenkKills(ctx, in, as, n, fr, row); err != nil {
		return err
	}
	threads = append(threads, float64(countTasks(pid)))
	if kb, ok := procStatus(pid, "VmHWM"); ok {
		row("RSS peak (VmHWM)", "MiB").one(sPoold, float64(kb)/1024)
	}
	mt := slices.Max(threads)
	row("threads (max of 4 looks)", "threads").one(sPoold, mt).target("< 20", mt < 20)
	row("stop all", "ms").one(sPoold, ms(in.stop(60*time.Second))).one(sFloor, fr.stop)
	return nil
}

// idle2 settles 2 s, then measures poold alone over the window.
func (b *bench) idle2(ctx context.Context, pid int) (idleSample, error) {
	select {
	case <-time.After(2 * time.Second):
	case <-ctx.Done():
		return idleSample{}, ctx.Err()
	}
	b.logf("tenk: idle for %s", b.o.window)
	return measureIdle(ctx, pid, b.o.window)
}

// tenkKills kills 1 % of the workers with SIGKILL: first one at a time,
// each time waiting for the new worker's alive report, then as many
// again all at once, each replacement timed from the first kill (beside
// the floor's own burst, floorBurst).
func (b *bench) tenkKills(ctx context.Context, in *instance, as []alive, n int, fr tenkFloor, row func(string, string) *row) error {
	k := max(n/100, 1)
	live := make([]int, 0, len(as))
	known := map[int]bool{}
	for _, a := range as {
		live = append(live, a.pid)
		known[a.pid] = true
	}
	rand.Shuffle(len(live), func(i, j int) { live[i], live[j] = live[j], live[i] })
	if len(live) < 2*k {
		return fmt.Errorf("%d workers, want at least %d to kill", len(live), 2*k)
	}
	b.board.drain()
	var one []float64
	for _, pid := range live[:k] {
		t0 := time.Now()
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			return fmt.Errorf("kill worker %d: %w", pid, err)
		}
		a, err := b.board.waitNew(ctx, known, 10*time.Second)
		if err != nil {
			return fmt.Errorf("kill %d: no new worker alive: %w; log: %s", pid, err, in.logTail())
		}
		known[a.pid] = true
		one = append(one, ms(a.at.Sub(t0)))
	}
	ro := row(fmt.Sprintf("kill -9 one at a time (%d) -> new worker alive", k), "ms").set(sPoold, newStat(one))
	ro.target("max < 50 ms", slices.Max(one) < 50)

	t0 := time.Now()
	signalAll(live[k:2*k], syscall.SIGKILL)
	var burst []float64
	for range k {
		a, err := b.board.waitNew(ctx, known, 10*time.Second)
		if err != nil {
			return fmt.Errorf("burst of %d kills: %d replaced: %w; log: %s", k, len(burst), err, in.logTail())
		}
		known[a.pid] = true
		burst = append(burst, ms(a.at.Sub(t0)))
	}
	rb := row(fmt.Sprintf("kill -9 of %d at once -> each new worker alive", k), "ms").set(sPoold, newStat(burst)).set(sFloor, newStat(fr.burst))
	rb.target("max < 50 ms", slices.Max(burst) < 50)
	if fr.burstCg != nil {
		// The same burst against the floor's own with a cgroup per
		// worker (tenkfloorcg.go), as poold's workers have.
		row(fmt.Sprintf("kill -9 of %d at once -> each new worker alive (floor: cgroups)", k), "ms").set(sPoold, newStat(burst)).set(sFloor, newStat(fr.burstCg))
	}
	// The first replacement's delay apart from the pace of the rest: a
	// burst's median can hide either (the reaps and exits handled before
	// the first fork, or a slower fork per replacement).
	row(fmt.Sprintf("kill -9 of %d at once -> first new worker alive", k), "ms").set(sPoold, firstOf(burst)).set(sFloor, firstOf(fr.burst))
	return nil
}

// startTenkPoold starts poold with n tiny workers: output nobody keeps
// (so poold holds no pipes for them), no console, metrics on their own
// port (nobody reads them until the scrape rows).
func (b *bench) startTenkPoold(worker string, n int) (*instance, time.Time, error) {
	dir := b.instDir(fmt.Sprintf("tenk-%d", n))
	port, err := freePort()
	if err != nil {
		return nil, time.Time{}, err
	}
	metricsPort, err := freePort()
	if err != nil {
		return nil, time.Time{}, err
	}
	conf := fmt.Sprintf(`[arbiter]
endpoint = "ipc://%[1]s/ctl.sock"
pubsub_endpoint = "ipc://%[1]s/pub.sock"
stats_endpoint = "ipc://%[1]s/stats.sock"
log_level = "warn"
max_processes = %[4]d

[web]
enabled = false
metrics_address = "127.0.0.1:%[6]d"

[sockets.web]
host = "127.0.0.1"
port = %[2]d
backlog = 4096

[watchers.web]
cmd = %[3]q
numprocesses = %[4]d
max_processes = %[4]d
sockets = ["web"]
env = ["BENCH_ALIVE=%[5]s"]
graceful_timeout = "5s"
backoff_reset = "200ms"
flapping_attempts = 0
stdout_log = "none"
stderr_log = "none"
log_ring = 0
`, dir, port, worker, n, b.board.path, metricsPort)
	if b.o.tenkNoCgroups {
		return b.launchPooldNoCgroups(dir, conf, port, metricsPort)
	}
	return b.launchPoold(dir, conf, port, metricsPort)
}

// timedRuns runs a command n times as a whole process and returns the
// wall times in ms.
func timedRuns(n int, path string, args ...string) ([]float64, error) {
	var out []float64
	for range n {
		d, _, err := runTimed(path, args...)
		if err != nil {
			return nil, err
		}
		out = append(out, ms(d))
	}
	return out, nil
}

// countTasks is the number of threads of pid.
func countTasks(pid int) int {
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	if err != nil {
		return 0
	}
	return len(ents)
}

// firstOf is the earliest of samples as a one-sample stat, nil for none.
func firstOf(samples []float64) *stat {
	if len(samples) == 0 {
		return nil
	}
	return newStat([]float64{slices.Min(samples)})
}
