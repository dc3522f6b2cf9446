package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/poold/poold/watcher/cgroup"
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
// long it took and whether the workers had cgroups of their own (false:
// no cgroup v2 here that the bench may write, and the reason).
func floorStop(fl *forkFloor) (time.Duration, string) {
	own, _, err := cgroup.Own()
	why := ""
	var dirs []string
	tree := ""
	if err == nil {
		tree = filepath.Join(own, fmt.Sprintf("poold-bench-floor-%d", os.Getpid()))
		dirs, err = stopCgroups(tree, fl.pids)
	}
	if err != nil {
		why = err.Error()
	}
	t0 := time.Now()
	fl.stop(syscall.SIGTERM, 30*time.Second)
	for _, d := range dirs {
		rmdirBusy(d)
	}
	d := time.Since(t0)
	if tree != "" {
		rmdirBusy(tree)
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
