package main

import (
	"cmp"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// tinyworkerSource is the worker of the -tenk section: static C, small
// enough that 10,000 of them fit (tinyworker.c.txt says what it does).
//
//go:embed tinyworker.c.txt
var tinyworkerSource []byte

// errNoCompiler says the -tenk section cannot build its worker here.
var errNoCompiler = errors.New("no gcc (or no static libc) to build the tiny worker")

// buildTiny compiles the tiny worker with gcc -static -O2 into the temp
// dir and returns its path.
func (b *bench) buildTiny(ctx context.Context) (string, error) {
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		return "", errNoCompiler
	}
	src := filepath.Join(b.tmp, "tinyworker.c")
	if err := os.WriteFile(src, tinyworkerSource, 0o644); err != nil {
		return "", err
	}
	out := filepath.Join(b.tmp, "tinyworker")
	cmd := exec.CommandContext(ctx, gcc, "-static", "-O2", "-o", out, src)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%w: gcc -static -O2 %s: %v\n%s", errNoCompiler, src, err, msg)
	}
	return out, nil
}

// tenkFloor is what the floor measured for one size.
type tenkFloor struct {
	spawn float64   // ms to the last alive report
	burst []float64 // each replacement's alive time from the kills, ms
	// burstCg is burst again, each worker in a cgroup v2 of its own
	// (tenkfloorcg.go); nil, with burstCgWhy, when the bench has none.
	burstCg    []float64
	burstCgWhy string
	cpu        spawnCPU
	stop       float64 // ms: SIGTERM, reap and rmdir of every worker (tenkstop.go)
	stopWhy    string  // why the floor's workers had no cgroups, "" if they had
}

// floorSpawn times the floor for n tiny workers: from the loop's start to
// the last alive datagram, and the CPU it used (tenkcpu.go). Then it kills 1 % of them at once and replaces
// each as soon as it is reaped (the burst's floor), and returns each
// replacement's alive time from the kills. Last it stops them all, timed
// (floorStop).
func (b *bench) floorSpawn(ctx context.Context, worker string, n int) (tenkFloor, error) {
	b.board.drain()
	var r tenkFloor
	fl, err := newForkFloor(worker, []string{worker}, []string{"BENCH_ALIVE=" + b.board.path})
	if err != nil {
		return r, err
	}
	defer fl.stop(syscall.SIGKILL, 5*time.Second)
	runtime.LockOSThread() // the loop's CPU is its thread's
	c0 := threadCPU()
	fl.t0 = time.Now()
	err = fl.fork(n)
	r.cpu.manager = threadCPU() - c0
	runtime.UnlockOSThread()
	if err != nil {
		return r, err
	}
	as, err := b.board.waitN(ctx, n, spawnTimeout(n))
	if err != nil {
		return r, fmt.Errorf("floor: %w", err)
	}
	r.spawn = ms(last(as).Sub(fl.t0))
	r.cpu.workers, r.cpu.n = workersCPU(alivePids(as))
	known := map[int]bool{}
	for _, a := range as {
		known[a.pid] = true
	}
	k := max(n/100, 1)
	if r.burst, err = b.floorBurst(ctx, fl, known, k, fl.replace); err != nil {
		return r, err
	}
	cg, err := floorCgroups(fl)
	if err != nil {
		r.burstCgWhy = err.Error()
	} else if r.burstCg, err = b.floorBurst(ctx, fl, known, k, cg.replace); err != nil {
		return r, err
	}
	b.logf("tenk: floor stops its %d workers", n)
	stop, why := floorStop(fl, cg)
	r.stop, r.stopWhy = ms(stop), cmp.Or(r.burstCgWhy, why)
	return r, nil
}

// floorBurst kills k floor workers at once, reaps them in turn and
// replaces each the moment it is reaped (replace: reap, fork): the least
// a manager can do for a burst of deaths. known holds the pids already
// seen alive; the replacements are added.
func (b *bench) floorBurst(ctx context.Context, fl *forkFloor, known map[int]bool, k int, replace func(i int) error) ([]float64, error) {
	idx := rand.Perm(len(fl.pids))[:k]
	victims := make([]int, k)
	for j, i := range idx {
		victims[j] = fl.pids[i]
	}
	t0 := time.Now()
	signalAll(victims, syscall.SIGKILL)
	for _, i := range idx {
		if err := replace(i); err != nil {
			return nil, fmt.Errorf("floor: replace a killed worker: %w", err)
		}
	}
	var out []float64
	for range k {
		a, err := b.board.waitNew(ctx, known, 10*time.Second)
		if err != nil {
			return nil, fmt.Errorf("floor: burst of %d kills: %d replaced: %w", k, len(out), err)
		}
		known[a.pid] = true
		out = append(out, ms(a.at.Sub(t0)))
	}
	return out, nil
}

// tenkNofile is the RLIMIT_NOFILE the tenk section wants: poold holds no
// fd per worker whose output nobody keeps (the section's), only some
// fifty of its own and a few per spawn in flight.
const tenkNofile = 1024

// nofile lifts this process's RLIMIT_NOFILE (which poold inherits) to the
// hard limit, and to need if it can. The hard limit can be raised up to
// fs.nr_open only with CAP_SYS_RESOURCE; without it the soft limit goes up
// to the hard one. It returns the limit in force and whether it is enough.
func nofile(need uint64) (uint64, bool) {
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) != nil {
		return 0, false
	}
	if rl.Cur < need && rl.Max < need {
		want := syscall.Rlimit{Cur: need, Max: need}
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want) == nil {
			rl = want
		}
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
	_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
	return rl.Cur, rl.Cur >= need
}

// procStatus reads one "Key:" value of /proc/PID/status (kB for sizes).
func procStatus(pid int, key string) (int, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			f := strings.Fields(v)
			if len(f) == 0 {
				return 0, false
			}
			n, err := strconv.Atoi(f[0])
			return n, err == nil
		}
	}
	return 0, false
}
