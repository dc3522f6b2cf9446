package handover

import (
	"os"
	"strconv"
	"time"
)

// busyWindow is how long a tree must have used less than a tenth of a
// CPU, and have no process running, to count as idle: a server that
// waits in a way /proc cannot show uses next to none, a master that
// imports its app before it forks (gunicorn --preload) computes, or
// waits for a CPU on a loaded machine.
const busyWindow = time.Second

// loading tells whether a worker's tree still computes: some process of
// it runs (state R, which on a loaded machine includes waiting for a
// CPU) or waits for the disk (D) now, or did so in a tenth or more of the
// looks over the last whole busyWindow, or the tree used a tenth of a
// CPU or more over it. A tick of CPU now and then (a Go runtime's, a
// housekeeping timer's) is no import: an idle server /proc cannot show
// waiting is not held to ready_timeout for it. Counting looks in R, not
// only CPU used, keeps an import that gets a twentieth of a CPU on a
// loaded machine computing.
type loading struct {
	at        time.Time     // when the window began; zero: none yet
	cpu       time.Duration // the tree's CPU time then
	looks     int           // looks in the window
	ran       int           // of which found a process running
	grewThen  bool          // whether it computed over the last whole window
	wasActive bool          // what the last busy call said
}

// busyShare: a tree that ran in 1/busyShare of the looks, or used
// 1/busyShare of a CPU, over a window computes.
const busyShare = 10

// busy samples the tree of pid at now and reports whether it still
// computes.
func (l *loading) busy(pid int, now time.Time) bool {
	cpu, running := treeCPU(pid)
	return l.observe(now, cpu, running)
}

// observe is busy with the tree's CPU time and state given.
func (l *loading) observe(now time.Time, cpu time.Duration, running bool) bool {
	if l.at.IsZero() {
		l.at, l.cpu = now, cpu
	}
	l.looks++
	if running {
		l.ran++
	}
	if window := now.Sub(l.at); window >= busyWindow {
		l.grewThen = (cpu-l.cpu)*busyShare >= window || l.ran*busyShare >= l.looks
		l.at, l.cpu, l.looks, l.ran = now, cpu, 0, 0
	}
	l.wasActive = running || l.grewThen
	return l.wasActive
}

// treeCPU sums the CPU time used by pid and its descendants (at most
// maxProcs of them) and tells whether one of them runs or waits for the
// disk. A process that exits meanwhile is left out.
func treeCPU(pid int) (time.Duration, bool) {
	var total time.Duration
	running := false
	queue := []int{pid}
	for n := 0; len(queue) > 0 && n < maxProcs; n++ {
		p := queue[0]
		queue = queue[1:]
		state, used, err := stateOf(p)
		if err != nil {
			continue
		}
		total += used
		running = running || state == 'R' || state == 'D'
		dir := "/proc/" + strconv.Itoa(p) + "/task/"
		tids, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, t := range tids {
			queue = append(queue, childrenOf(dir+t.Name())...)
		}
	}
	return total, running
}
