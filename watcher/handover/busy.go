package handover

import (
	"os"
	"strconv"
	"time"
)

// busyWindow is how long a tree must have used no CPU, and have no
// process running, to count as idle: a server that waits in a way /proc
// cannot show uses none, a master that imports its app before it forks
// (gunicorn --preload) computes, or waits for a CPU on a loaded machine.
const busyWindow = time.Second

// loading tells whether a worker's tree still computes: some process of
// it runs (state R) or waits for the disk (D), or the tree has used CPU
// since the last sample, at most busyWindow old, or in the window
// before it.
type loading struct {
	at        time.Time     // when the last sample was taken; zero: none yet
	cpu       time.Duration // the tree's CPU time then
	grewThen  bool          // whether it grew in the window before that sample
	wasActive bool          // what the last busy call said
}

// busy samples the tree of pid at now and reports whether it still
// computes.
func (l *loading) busy(pid int, now time.Time) bool {
	cpu, running := treeCPU(pid)
	if l.at.IsZero() {
		l.at, l.cpu = now, cpu
		l.wasActive = running
		return running
	}
	grew := cpu > l.cpu
	if now.Sub(l.at) >= busyWindow {
		l.at, l.cpu, l.grewThen = now, cpu, grew
	}
	l.wasActive = running || grew || l.grewThen
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
