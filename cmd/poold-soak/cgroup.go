package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// pidsRoot is where cgroup v1's pids controller is mounted.
const pidsRoot = "/sys/fs/cgroup/pids"

// cgroup is a child of the pids controller that the soak made.
type cgroup struct{ dir string }

// newCgroup makes a pids cgroup with limit max ("max": none).
func newCgroup(name, max string) (*cgroup, error) {
	if _, err := os.Stat(filepath.Join(pidsRoot, "cgroup.procs")); err != nil {
		return nil, fmt.Errorf("no cgroup v1 pids controller: %w", err)
	}
	dir, err := os.MkdirTemp(pidsRoot, "poold-soak-"+name+"-")
	if err != nil {
		return nil, fmt.Errorf("make a pids cgroup (needs root): %w", err)
	}
	cg := &cgroup{dir: dir}
	if err := cg.write("pids.max", max); err != nil {
		os.Remove(dir)
		return nil, err
	}
	return cg, nil
}

func (cg *cgroup) write(file, v string) error {
	return os.WriteFile(filepath.Join(cg.dir, file), []byte(v), 0o644)
}

func (cg *cgroup) readInt(file string) (int, error) {
	b, err := os.ReadFile(filepath.Join(cg.dir, file))
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

func (cg *cgroup) procs() []int {
	b, err := os.ReadFile(filepath.Join(cg.dir, "cgroup.procs"))
	if err != nil {
		return nil
	}
	var out []int
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

// remove waits a few seconds for the cgroup to empty, kills by pid what
// is still in it (only the soak's poold and what it started ever entered
// it), removes it, and reports what was left behind.
func (cg *cgroup) remove() error {
	left := cg.waitEmpty(5 * time.Second)
	for _, pid := range left {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	if len(left) > 0 {
		cg.waitEmpty(5 * time.Second)
	}
	if err := os.Remove(cg.dir); err != nil {
		return fmt.Errorf("remove cgroup %s: %w", cg.dir, err)
	}
	if len(left) > 0 {
		return fmt.Errorf("processes %v were left in %s after poold exited", left, cg.dir)
	}
	return nil
}

func (cg *cgroup) waitEmpty(d time.Duration) []int {
	deadline := time.Now().Add(d)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		left := cg.procs()
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		<-tick.C
	}
}
