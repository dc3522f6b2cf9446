package main

import (
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The CPU a tenk spawn used, per worker, read the moment the last worker
// reported alive: the manager's (every thread of poold; for the floor,
// the thread of its fork loop) and the workers' (each process's own,
// its exec steps included: the kernel counts a vfork child's exec to the
// child). On a machine that other work keeps busy the wall time of a
// spawn says as much about the neighbours as about poold; the CPU each
// side spent says where poold's time over the floor goes.

// spawnCPU is what one spawn used, in all.
type spawnCPU struct {
	manager time.Duration
	workers time.Duration
	n       int // workers read
}

// perWorker is the manager's, the workers' and both together, in µs per
// worker; false when no worker could be read.
func (c spawnCPU) perWorker() (manager, workers, all float64, ok bool) {
	if c.n == 0 {
		return 0, 0, 0, false
	}
	us := func(d time.Duration) float64 { return float64(d) / 1e3 / float64(c.n) }
	return us(c.manager), us(c.workers), us(c.manager + c.workers), true
}

// taskCPU is the CPU time of every thread of pid so far, from
// /proc/PID/task/TID/schedstat (nanoseconds, where /proc/PID/stat counts
// clock ticks, too coarse for a worker that ran a fraction of one).
func taskCPU(pid int) (time.Duration, bool) {
	dir := "/proc/" + strconv.Itoa(pid) + "/task/"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, false
	}
	var sum time.Duration
	for _, e := range ents {
		b, err := os.ReadFile(dir + e.Name() + "/schedstat")
		if err != nil {
			continue // a thread that ended meanwhile
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			continue
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err == nil {
			sum += time.Duration(ns)
		}
	}
	return sum, true
}

// workersCPU sums taskCPU over the workers' pids.
func workersCPU(pids []int) (time.Duration, int) {
	var sum time.Duration
	n := 0
	for _, pid := range pids {
		if d, ok := taskCPU(pid); ok {
			sum += d
			n++
		}
	}
	return sum, n
}

// alivePids are the pids of as.
func alivePids(as []alive) []int {
	pids := make([]int, len(as))
	for i, a := range as {
		pids[i] = a.pid
	}
	return pids
}

// threadCPU is the calling thread's CPU time so far; lock the goroutine
// to its thread around what it measures.
func threadCPU() time.Duration {
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_THREAD, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuRows adds the spawn's CPU per worker, poold's beside the floor's.
func cpuRows(row func(string, string) *row, pooldCPU, floorCPU spawnCPU) {
	pm, pw, pa, pok := pooldCPU.perWorker()
	fm, fw, fa, fok := floorCPU.perWorker()
	if !pok || !fok {
		return
	}
	row("spawn CPU per worker, manager", "us").one(sPoold, pm).one(sFloor, fm)
	row("spawn CPU per worker, workers", "us").one(sPoold, pw).one(sFloor, fw)
	row("spawn CPU per worker, all", "us").one(sPoold, pa).one(sFloor, fa)
}
