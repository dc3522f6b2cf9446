package cgroup

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// SelfLeaf is the cgroup, below poold's own, that poold moves the
// processes of its own cgroup into before it passes a controller down to
// the workers' cgroups. cgroup v2 lets a cgroup other than the root enable
// a domain controller (memory) for its children only while it holds no
// process (EBUSY), and a threaded one (pids, cpu) while it holds processes
// only by turning it into a threaded domain, below which the workers'
// cgroups are invalid and no worker can be cloned. Under systemd's
// Delegate=yes, and as PID 1 of a container with a cgroup namespace of its
// own, poold starts in the very cgroup that must pass them down; systemd
// and container runtimes move themselves into such a leaf for the same
// reason (systemd 254 and later can start poold there: DelegateSubgroup=).
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
// in the tree's. The processes of own, when it is not the root cgroup,
// move to SelfLeaf first: poold's own, and any other the cgroup holds (a
// container's init), which the kernel's rule concerns just as much. A
// process that arrives meanwhile (EBUSY) is moved too. t.mu is held.
func (t *Tree) passDown(c string) error {
	own := filepath.Dir(t.Dir)
	write := func(d string) error {
		return os.WriteFile(filepath.Join(d, "cgroup.subtree_control"), []byte("+"+c), 0)
	}
	var err error
	for range 3 {
		if !isRoot(own) && holdsProcesses(own) {
			var leaf string
			if leaf, err = vacate(own); err != nil {
				break
			}
			t.moved = leaf
		}
		if err = write(own); !errors.Is(err, unix.EBUSY) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("enable the %s controller in %s for the workers' cgroups: %w", c, own, err)
	}
	t.passed = append(t.passed, c)
	if err := write(t.Dir); err != nil {
		return fmt.Errorf("enable the %s controller in %s for the workers' cgroups: %w", c, t.Dir, err)
	}
	return nil
}

// isRoot says whether dir is the root of a cgroup v2 hierarchy, which
// alone has no cgroup.type: the kernel's rule does not hold there, and
// its processes are the whole machine's. A cgroup namespace's root (a
// container's /sys/fs/cgroup) has one.
func isRoot(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "cgroup.type"))
	return errors.Is(err, os.ErrNotExist)
}

func holdsProcesses(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	return err == nil && len(bytes.TrimSpace(b)) > 0
}

// unpass disables, in poold's own cgroup, the controllers poold enabled
// there, once its tree is gone: older systemd
// versions cannot put the next ExecStart= of a restarted unit back into a
// cgroup that passes controllers down (status 219/CGROUP). Best effort: a cgroup of another
// poold below it that still uses one keeps it (EBUSY).
func (t *Tree) unpass() {
	own := filepath.Dir(t.Dir)
	if isRoot(own) {
		return
	}
	for _, c := range t.passed {
		_ = os.WriteFile(filepath.Join(own, "cgroup.subtree_control"), []byte("-"+c), 0)
	}
}

// adoptPassed, in an upgrade's new image, takes the controllers of
// poold's own cgroup for its own to disable at the end (unpass) when this
// process is in its SelfLeaf: the image before it moved it there and
// enabled them.
func (t *Tree) adoptPassed() {
	own := filepath.Dir(t.Dir)
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil || isRoot(own) {
		return
	}
	for _, line := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok && filepath.Base(p) == SelfLeaf {
			t.moved = filepath.Join(own, SelfLeaf)
			on, _ := os.ReadFile(filepath.Join(own, "cgroup.subtree_control"))
			t.passed = strings.Fields(string(on))
		}
	}
}
