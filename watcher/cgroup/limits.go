package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Limits bound one worker and everything it starts. Zero: no limit.
type Limits struct {
	MemoryMax uint64  // bytes: memory.max (v1: memory.limit_in_bytes)
	PidsMax   int     // pids.max
	CPUMax    float64 // percent of one CPU: cpu.max (v1: cfs quota)
}

// controllers the limits need, by name.
func (l Limits) controllers() []string {
	var out []string
	if l.MemoryMax > 0 {
		out = append(out, "memory")
	}
	if l.PidsMax > 0 {
		out = append(out, "pids")
	}
	if l.CPUMax > 0 {
		out = append(out, "cpu")
	}
	return out
}

// v1Hier is a cgroup v1 hierarchy of one controller, used for a limit on
// a hybrid host whose v2 hierarchy lacks that controller.
type v1Hier struct {
	ctrl string
	own  string // poold's own directory in it
	tree string // the tree's directory in it
}

// findV1 finds the v1 hierarchies of the controllers limits use.
func findV1() []v1Hier {
	cg, err1 := os.ReadFile("/proc/self/cgroup")
	mi, err2 := os.ReadFile("/proc/self/mountinfo")
	if err1 != nil || err2 != nil {
		return nil
	}
	var out []v1Hier
	mounts := Mounts(string(mi))
	for _, ctrl := range []string{"memory", "pids", "cpu"} {
		path, found := "", false
		for _, line := range strings.Split(string(cg), "\n") {
			parts := strings.SplitN(line, ":", 3)
			if len(parts) == 3 && hasWord(parts[1], ctrl) {
				path, found = parts[2], true
			}
		}
		if !found {
			continue
		}
		for _, m := range mounts {
			if m.FSType == "cgroup" && hasWord(m.Super, ctrl) {
				if dir, _, ok := Under(m.Point, m.Root, path); ok {
					out = append(out, v1Hier{ctrl: ctrl, own: dir})
				}
				break
			}
		}
	}
	return out
}

func hasWord(list, w string) bool {
	for _, x := range strings.Split(list, ",") {
		if x == w {
			return true
		}
	}
	return false
}

// enable makes the controllers lim needs available to worker cgroups:
// through v2 when poold's cgroup offers them, else through cgroup v1.
func (t *Tree) enable(lim Limits) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range lim.controllers() {
		if t.enabled[c] {
			continue
		}
		own := filepath.Dir(t.Dir)
		if controllers(own)[c] {
			if err := t.passDown(c); err != nil {
				return err
			}
			t.enabled[c] = true
			continue
		}
		h := t.v1Of(c)
		if h == nil {
			return fmt.Errorf("no %s controller: neither cgroup v2 (%s/cgroup.controllers) nor a cgroup v1 hierarchy offers it; "+
				"remove the limit or enable the controller", c, own)
		}
		h.tree = filepath.Join(h.own, filepath.Base(t.Dir))
		if err := os.Mkdir(h.tree, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("make cgroup %s: %w", h.tree, err)
		}
		t.enabled[c] = true
	}
	return nil
}

func (t *Tree) v1Of(ctrl string) *v1Hier {
	if t.v1 == nil {
		t.v1 = findV1()
	}
	for i := range t.v1 {
		if t.v1[i].ctrl == ctrl {
			return &t.v1[i]
		}
	}
	return nil
}

// apply writes lim into the new group g (called name).
func (t *Tree) apply(g *Group, name string, lim Limits) error {
	type setting struct {
		ctrl, v2file, v1file, v2, v1 string
	}
	var set []setting
	if lim.MemoryMax > 0 {
		n := strconv.FormatUint(lim.MemoryMax, 10)
		set = append(set, setting{"memory", "memory.max", "memory.limit_in_bytes", n, n})
	}
	if lim.PidsMax > 0 {
		n := strconv.Itoa(lim.PidsMax)
		set = append(set, setting{"pids", "pids.max", "pids.max", n, n})
	}
	if lim.CPUMax > 0 {
		quota := strconv.FormatInt(cpuQuota(lim.CPUMax), 10) // of a 100 ms period
		set = append(set, setting{"cpu", "cpu.max", "cpu.cfs_quota_us", quota + " 100000", quota})
	}
	for _, s := range set {
		v2 := filepath.Join(g.Dir, s.v2file)
		if _, err := os.Stat(v2); err == nil {
			if err := os.WriteFile(v2, []byte(s.v2), 0); err != nil {
				return fmt.Errorf("set %s to %q: %w", v2, s.v2, err)
			}
			if s.ctrl == "memory" {
				g.mem = memoryAt(g.Dir, false, lim.MemoryMax)
			}
			continue
		}
		t.mu.Lock()
		h := t.v1Of(s.ctrl)
		t.mu.Unlock()
		if h == nil || h.tree == "" {
			return fmt.Errorf("no %s controller for %s", s.ctrl, g.Dir)
		}
		d := filepath.Join(h.tree, name)
		if err := os.Mkdir(d, 0o755); err != nil {
			return fmt.Errorf("make cgroup %s: %w", d, err)
		}
		g.v1 = append(g.v1, d)
		if s.ctrl == "cpu" {
			_ = os.WriteFile(filepath.Join(d, "cpu.cfs_period_us"), []byte("100000"), 0)
		}
		if err := os.WriteFile(filepath.Join(d, s.v1file), []byte(s.v1), 0); err != nil {
			return fmt.Errorf("set %s/%s to %s: %w", d, s.v1file, s.v1, err)
		}
		if s.ctrl == "memory" {
			g.mem = memoryAt(d, true, lim.MemoryMax)
		}
	}
	return nil
}

// maxCPUQuota is the largest CFS quota the kernel takes, in µs
// (max_cfs_runtime: 2^44-1); a larger one is EINVAL.
const maxCPUQuota = 1<<44 - 1

// cpuQuota is the CFS quota, in µs of a 100 ms period, of percent of one
// core: at least 1 % (1000 µs, the kernel's least is 1 ms), at most
// maxCPUQuota. The config refuses a cpu_max beyond that (configs.MaxCPUMax);
// a float converted past the range of int64 would have wrapped to a
// negative number, that is 1 % of a core.
func cpuQuota(percent float64) int64 {
	q := percent * 1000
	switch {
	case !(q >= 1000): // NaN too
		return 1000
	case q >= maxCPUQuota:
		return maxCPUQuota
	}
	return int64(q)
}

// sweepV1 removes the v1 directories a dead poold left (their processes
// were in its v2 cgroups, which sweep emptied).
func (t *Tree) sweepV1() {
	for _, h := range t.v1Hiers() {
		tree := filepath.Join(h.own, filepath.Base(t.Dir))
		ents, _ := os.ReadDir(tree)
		for _, e := range ents {
			if e.IsDir() {
				_ = rmdir(filepath.Join(tree, e.Name()))
			}
		}
		_ = unix.Rmdir(tree)
	}
}

func (t *Tree) closeV1() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, h := range t.v1 {
		if h.tree != "" {
			_ = unix.Rmdir(h.tree)
		}
	}
}

func (t *Tree) v1Hiers() []v1Hier {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.v1 == nil {
		t.v1 = findV1()
	}
	return append([]v1Hier(nil), t.v1...)
}

// JoinV1 moves process pid (all its threads) into the v1 directories
// dirs. The spawner calls it on a worker's exec step, which waits for it
// before the worker's program runs: v1 has no CLONE_INTO_CGROUP, and
// poold itself must never sit in a worker's v1 cgroup, not even for a
// fork: in a worker's memory cgroup poold is charged for what it touches
// and is the OOM killer's first choice there (r58b: a memory_max of 512
// bytes killed poold and, with it, every watcher's workers).
func JoinV1(pid int, dirs []string) error {
	for _, d := range dirs {
		if err := writeProcs(d, pid); err != nil {
			return joinError(pid, d, err)
		}
	}
	return nil
}

// writeProcs writes pid into dir's cgroup.procs: opened without
// O_CREATE, so a directory that is no cgroup (a tmpfs where one was)
// gets an error rather than a new plain file.
func writeProcs(dir string, pid int) error {
	f, err := os.OpenFile(filepath.Join(dir, "cgroup.procs"), os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(strconv.Itoa(pid))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
