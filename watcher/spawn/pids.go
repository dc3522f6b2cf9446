package spawn

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/poold/poold/watcher/cgroup"
)

// The pids reserve. A cgroup's pids.max (Docker --pids-limit, Kubernetes,
// systemd TasksMax) counts threads as well as processes, and the Go
// runtime aborts the whole of poold, workers and all, when it cannot
// create a thread it needs ("fatal error: newosproc"). A fork refused at
// the limit is harmless, but a limit that workers fill to the last pid
// leaves poold one thread away from that abort. So the spawner refuses a
// fork that would leave fewer than pidsReserve pids under any pids limit
// poold can see (its cgroup's and each visible ancestor's), as if the
// kernel had: EAGAIN, an ordinary spawn error of that slot. Workers that
// fork on their own can still eat the reserve; the limit needs room for
// them too.

// pidsReserve is how many pids poold keeps free for its own threads: the
// runtime's (one per P running, sysmon, the template thread), threads
// blocked in a syscall, the spawner's. Idle, poold has under 15.
const pidsReserve = 16

// pidsLimits are the cgroup directories whose pids.max bound poold, its
// own cgroup's first. Empty: no limit found (no pids controller).
type pidsLimits []string

// pidsWatch finds poold's pids limits again whenever poold has moved to
// another cgroup (a test, or a supervisor, may move it after it started).
// Owned by the spawner's goroutine.
type pidsWatch struct {
	cgroup string // /proc/self/cgroup when limits were found
	limits pidsLimits
}

// check refreshes the limits if poold moved, then checks them.
func (w *pidsWatch) check() error {
	cg, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil // no cgroups to bound poold
	}
	if string(cg) != w.cgroup {
		w.cgroup = string(cg)
		w.limits = findPidsLimits(w.cgroup)
	}
	return w.limits.check()
}

// findPidsLimits finds the cgroup directories of the pids limits of a
// process whose /proc/PID/cgroup reads self: cgroup v1's pids
// hierarchy when mounted, else v2's; nil when there is none.
func findPidsLimits(self string) pidsLimits {
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	dir, mnt, ok := pidsCgroupDir(self, string(mi))
	if !ok {
		return nil
	}
	var limits pidsLimits
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "pids.max")); err == nil {
			limits = append(limits, d) // a cgroup v2 root has none
		}
		if d == mnt || d == "/" || d == "." {
			return limits
		}
	}
}

// pidsCgroupDir finds poold's cgroup directory in the pids hierarchy, and
// where that hierarchy is mounted, from the text of /proc/self/cgroup and
// /proc/self/mountinfo.
func pidsCgroupDir(self, mountinfo string) (dir, mnt string, ok bool) {
	var v1, v2 string
	haveV1, haveV2 := false, false
	for _, line := range strings.Split(self, "\n") {
		// hierarchy-ID:controller-list:cgroup-path
		id, rest, _ := strings.Cut(line, ":")
		ctrls, path, found := strings.Cut(rest, ":")
		switch {
		case !found:
		case id == "0" && ctrls == "":
			v2, haveV2 = path, true
		case hasWord(ctrls, "pids"):
			v1, haveV1 = path, true
		}
	}
	for _, m := range cgroup.Mounts(mountinfo) {
		switch {
		case haveV1 && m.FSType == "cgroup" && hasWord(m.Super, "pids"):
			return cgroup.Under(m.Point, m.Root, v1)
		case haveV2 && !haveV1 && m.FSType == "cgroup2":
			return cgroup.Under(m.Point, m.Root, v2)
		}
	}
	return "", "", false
}

func hasWord(list, w string) bool {
	for _, x := range strings.Split(list, ",") {
		if x == w {
			return true
		}
	}
	return false
}

// check refuses a fork that would leave fewer than pidsReserve pids under
// one of the limits, with an error that matches EAGAIN and names it.
func (l pidsLimits) check() error {
	for _, dir := range l {
		max, cur, ok := readPids(dir)
		if ok && max-cur <= pidsReserve {
			return fmt.Errorf("fork: %w (%d of pids.max %d are in use in cgroup %s, and poold keeps the last %d "+
				"for its own threads; raise pids.max or run fewer workers)", syscall.EAGAIN, cur, max, dir, pidsReserve)
		}
	}
	return nil
}

// readPids reads a cgroup's pids.max and pids.current; ok is false when
// there is no limit ("max") or it cannot be read.
func readPids(dir string) (max, cur int, ok bool) {
	read := func(name string) (int, bool) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return 0, false
		}
		n, err := strconv.Atoi(strings.TrimSpace(string(b)))
		return n, err == nil
	}
	if max, ok = read("pids.max"); !ok {
		return 0, 0, false
	}
	cur, ok = read("pids.current")
	return max, cur, ok
}
