package main

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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

// tinyFloor is the floor of the -tenk section: the plain fork/exec loop of
// spawn.go's floor (listener at fd 3, LISTEN_FDS=1, own process group,
// parent-death signal) with the tiny worker. It forks with
// syscall.ForkExec and reaps its children itself, by pid, after it killed
// them: os/exec would hold a thread per child in Wait, and Go refuses a
// 10,001st thread.
type tinyFloor struct {
	worker   string
	attr     *syscall.ProcAttr
	listener *os.File // attr's fd 3, open until stop for the burst's forks
	pids     []int
	t0       time.Time
}

func startTinyFloor(worker, alive string, n int) (*tinyFloor, error) {
	l, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	defer l.Close() // the workers hold their own copies
	f, err := blockingFile(l)
	if err != nil {
		return nil, err
	}
	attr := &syscall.ProcAttr{
		Env:   []string{"LISTEN_FDS=1", "LISTEN_FDNAMES=web", "BENCH_ALIVE=" + alive},
		Files: []uintptr{devNull(), devNull(), devNull(), f.Fd()},
		Sys:   &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL},
	}
	fl := &tinyFloor{worker: worker, attr: attr, listener: f, t0: time.Now()}
	for i := 0; i < n; i++ {
		pid, err := syscall.ForkExec(worker, []string{worker}, attr)
		if err != nil {
			fl.stop()
			return nil, fmt.Errorf("floor: fork/exec %s (%d of %d): %w", worker, i+1, n, err)
		}
		fl.pids = append(fl.pids, pid)
	}
	return fl, nil
}

var devNullFd = -1

// devNull is one /dev/null fd for the floor's children, opened once.
func devNull() uintptr {
	if devNullFd < 0 {
		fd, err := syscall.Open(os.DevNull, syscall.O_RDWR|syscall.O_CLOEXEC, 0)
		if err != nil {
			return 0
		}
		devNullFd = fd
	}
	return uintptr(devNullFd)
}

// stop kills every floor worker and reaps each one.
func (fl *tinyFloor) stop() time.Duration {
	t0 := time.Now()
	signalAll(fl.pids, syscall.SIGKILL)
	for _, pid := range fl.pids {
		var ws syscall.WaitStatus
		for {
			_, err := syscall.Wait4(pid, &ws, 0, nil)
			if !errors.Is(err, syscall.EINTR) {
				break
			}
		}
	}
	fl.pids = nil
	fl.listener.Close()
	return time.Since(t0)
}

// floorSpawn times the floor for n tiny workers: from the loop's start to
// the last alive datagram. Then it kills 1 % of them at once and replaces
// each as soon as it is reaped (the burst's floor), and returns each
// replacement's alive time from the kills.
func (b *bench) floorSpawn(ctx context.Context, worker string, n int) (float64, []float64, error) {
	b.board.drain()
	fl, err := startTinyFloor(worker, b.board.path, n)
	if err != nil {
		return 0, nil, err
	}
	defer fl.stop()
	as, err := b.board.waitN(ctx, n, spawnTimeout(n))
	if err != nil {
		return 0, nil, fmt.Errorf("floor: %w", err)
	}
	spawn := ms(last(as).Sub(fl.t0))
	burst, err := b.floorBurst(ctx, fl, as, max(n/100, 1))
	return spawn, burst, err
}

// floorBurst kills k floor workers at once, reaps them in turn and forks
// each one's replacement the moment it is reaped: the least a manager can
// do for a burst of deaths.
func (b *bench) floorBurst(ctx context.Context, fl *tinyFloor, as []alive, k int) ([]float64, error) {
	known := map[int]bool{}
	for _, a := range as {
		known[a.pid] = true
	}
	victims := slices.Clone(fl.pids)
	rand.Shuffle(len(victims), func(i, j int) { victims[i], victims[j] = victims[j], victims[i] })
	victims = victims[:k]
	fl.pids = slices.DeleteFunc(fl.pids, func(pid int) bool { return slices.Contains(victims, pid) })
	t0 := time.Now()
	signalAll(victims, syscall.SIGKILL)
	for _, pid := range victims {
		var ws syscall.WaitStatus
		for {
			if _, err := syscall.Wait4(pid, &ws, 0, nil); !errors.Is(err, syscall.EINTR) {
				break
			}
		}
		np, err := syscall.ForkExec(fl.worker, []string{fl.worker}, fl.attr)
		if err != nil {
			return nil, fmt.Errorf("floor: replace a killed worker: %w", err)
		}
		fl.pids = append(fl.pids, np)
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
