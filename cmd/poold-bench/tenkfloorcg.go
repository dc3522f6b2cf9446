package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/poold/poold/watcher/cgroup"
	"golang.org/x/sys/unix"
)

// The burst's floor with cgroups. poold starts each worker in a cgroup v2
// of its own, and every one of its steps in a burst (the reap, the read
// of the emptied cgroup, the clone into it) runs with 10,000 cgroups on
// the host; the plain floor's workers have none. So the floor's burst is
// run a second time once its workers are each moved (untimed) into a
// cgroup of their own, as for the stop floor: each killed worker is
// reaped, its cgroup read until it says it is empty (cgroup.events
// "populated 0": what a manager must know before a new worker may start
// in it), and the replacement cloned straight into that cgroup
// (CLONE_INTO_CGROUP), which is how poold reuses a parked cgroup. What
// poold does besides (its reads of the cgroup's OOM and pids counts, its
// session per worker, its exec stub for LISTEN_PID, its events and
// accounting) is its own cost.

// floorCg is the floor's workers' cgroups: dirs[i] is fl.pids[i]'s.
type floorCg struct {
	fl   *forkFloor
	tree string
	dirs []string
}

// floorCgroups moves each of fl's workers into a cgroup v2 of its own,
// below the bench's own cgroup. An error says why it could not; the
// cgroups made until then are returned too (nil if none), to be removed
// once their workers are stopped.
func floorCgroups(fl *forkFloor) (*floorCg, error) {
	own, _, err := cgroup.Own()
	if err != nil {
		return nil, err
	}
	tree := filepath.Join(own, fmt.Sprintf("poold-bench-floor-%d", os.Getpid()))
	dirs, err := stopCgroups(tree, fl.pids)
	if err != nil && len(dirs) == 0 {
		rmdirBusy(tree)
		return nil, err
	}
	return &floorCg{fl: fl, tree: tree, dirs: dirs}, err
}

// replace reaps fl.pids[i], which was killed, waits until its cgroup says
// it is empty, and clones the replacement into that cgroup.
func (cg *floorCg) replace(i int) error {
	fl, dir := cg.fl, cg.dirs[i]
	reap(fl.pids[i])
	if err := waitUnpopulated(dir); err != nil {
		return err
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("floor: open cgroup %s: %w", dir, err)
	}
	defer unix.Close(fd)
	sys := *fl.attr.Sys
	sys.UseCgroupFD, sys.CgroupFD = true, fd
	attr := *fl.attr
	attr.Sys = &sys
	pid, err := syscall.ForkExec(fl.path, fl.argv, &attr)
	if err != nil {
		return fmt.Errorf("floor: fork/exec %s into cgroup %s: %w", fl.path, dir, err)
	}
	fl.pids[i] = pid
	return nil
}

// waitUnpopulated reads dir's cgroup.events until it says "populated 0"
// (at once for a worker reaped, but for the kernel's lag), up to 1,000
// reads.
func waitUnpopulated(dir string) error {
	file := filepath.Join(dir, "cgroup.events")
	for range 1000 {
		b, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("floor: read %s: %w", file, err)
		}
		if bytes.Contains(b, []byte("populated 0")) {
			return nil
		}
	}
	return fmt.Errorf("floor: %s still says populated after its worker was reaped", file)
}
