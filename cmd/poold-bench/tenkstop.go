package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The floor of "stop all": the floor's own workers, each moved first
// (untimed) into a cgroup v2 of its own where poold gives each worker
// one, below the bench's own cgroup as poold's tree is below poold's;
// then, timed, SIGTERM to each, the reap of each, in the order they were
// forked, and the rmdir of each cgroup. What poold does beyond that (its
// events, the exit statuses it reports, the SIGCONT and thaw after each
// stop signal, the reads of each cgroup's counts) is its own cost.

// stopCgroups moves each pid into a cgroup of its own below dir, made
// here; it returns the cgroups made (an error leaves the rest without).
func stopCgroups(dir string, pids []int) ([]string, error) {
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, err
	}
	out := make([]string, 0, len(pids))
	for i, pid := range pids {
		d := filepath.Join(dir, "w"+strconv.Itoa(i))
		if err := os.Mkdir(d, 0o755); err != nil {
			return out, err
		}
		out = append(out, d)
		if err := os.WriteFile(filepath.Join(d, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
			return out, fmt.Errorf("move floor worker %d into %s: %w", pid, d, err)
		}
	}
	return out, nil
}

// floorStop stops the floor's workers as the stop floor and returns how
// long it took and why the workers had no cgroups of their own ("" when
// they had: no cgroup v2 here that the bench may write). cg is their
// cgroups if the burst made them (tenkfloorcg.go), else nil.
func floorStop(fl *forkFloor, cg *floorCg) (time.Duration, string) {
	why := ""
	if cg == nil {
		var err error
		if cg, err = floorCgroups(fl); err != nil {
			why = err.Error()
		}
	}
	t0 := time.Now()
	fl.stop(syscall.SIGTERM, 30*time.Second)
	var d time.Duration
	if cg != nil {
		for _, dir := range cg.dirs {
			rmdirBusy(dir)
		}
		d = time.Since(t0)
		rmdirBusy(cg.tree)
	} else {
		d = time.Since(t0)
	}
	return d, why
}

// rmdirBusy removes an emptied cgroup, trying again while the kernel
// still says busy (the last task's release), for up to a second.
func rmdirBusy(d string) {
	for i := 0; i < 500; i++ {
		if err := unix.Rmdir(d); err != unix.EBUSY {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
}
