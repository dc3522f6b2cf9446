package cgroup

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// SelfLeaf is the cgroup, below poold's own, that poold moves its own
// processes into when its cgroup must pass controllers down to the
// workers' cgroups. cgroup v2 lets a cgroup other than the root enable
// controllers for its children only while it holds no process of its own:
// under systemd's Delegate=yes, and in a container with a cgroup namespace
// of its own, poold starts in the very cgroup it must enable memory, pids
// or cpu in. systemd and container runtimes move themselves into such a
// leaf for the same reason.
//
// Own treats a process in SelfLeaf as in the cgroup above it, so a poold
// restarted or upgraded there finds its tree where the first one put it.
const SelfLeaf = "poold.self"

// vacateRounds bounds the passes over cgroup.procs: each moves what it
// saw, and a process forked meanwhile (a hook, a probe) shows up in the
// next one.
const vacateRounds = 10

// vacate moves every process of cgroup dir into its SelfLeaf, so that dir
// may enable controllers for its children. It returns the leaf.
func vacate(dir string) (string, error) {
	leaf := filepath.Join(dir, SelfLeaf)
	if err := os.Mkdir(leaf, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return "", fmt.Errorf("make cgroup %s for poold's own processes: %w", leaf, err)
	}
	for range vacateRounds {
		b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
		if err != nil {
			return "", fmt.Errorf("read %s/cgroup.procs: %w", dir, err)
		}
		pids := bytes.Fields(b)
		if len(pids) == 0 {
			return leaf, nil
		}
		for _, p := range pids {
			if _, err := strconv.Atoi(string(p)); err != nil {
				continue
			}
			err := os.WriteFile(filepath.Join(leaf, "cgroup.procs"), p, 0)
			if err != nil && !errors.Is(err, unix.ESRCH) {
				return "", fmt.Errorf("move process %s from cgroup %s to %s: %w", p, dir, leaf, err)
			}
		}
	}
	return "", fmt.Errorf("cgroup %s still holds processes after %d passes moving them to %s", dir, vacateRounds, leaf)
}

// passDown enables controller c in own's cgroup.subtree_control and then
// in the tree's. When own holds processes (poold's own: the kernel says
// EBUSY), they move to SelfLeaf first. t.mu is held.
func (t *Tree) passDown(c string) error {
	own := filepath.Dir(t.Dir)
	write := func(d string) error {
		return os.WriteFile(filepath.Join(d, "cgroup.subtree_control"), []byte("+"+c), 0)
	}
	err := write(own)
	if errors.Is(err, unix.EBUSY) {
		var leaf string
		if leaf, err = vacate(own); err == nil {
			t.moved = leaf
			err = write(own)
		}
	}
	if err != nil {
		return fmt.Errorf("enable the %s controller in %s for the workers' cgroups: %w", c, own, err)
	}
	if err := write(t.Dir); err != nil {
		return fmt.Errorf("enable the %s controller in %s for the workers' cgroups: %w", c, t.Dir, err)
	}
	return nil
}
