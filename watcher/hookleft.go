package watcher

import (
	"os"
	"strings"
	"unsafe"

	"github.com/hashicorp/go-hclog"
	"github.com/poold/poold/watcher/probe"
	"github.com/poold/poold/watcher/procinfo"
	"golang.org/x/sys/unix"
)

// hookLeft names, in a WARN line of log, what a hook left running in its
// process group as it exited, which probe.Check then kills: a background
// job ends with its hook, as a worker's leftovers end with it, and a
// daemon must have left the group (setsid -w) before the hook exits. The
// processes are listed before the kill, while their command lines can
// still be read; one that left the group between the look and the kill
// (a setsid that won the race) was not killed, and is not named.
func hookLeft(log hclog.Logger) probe.LeftFunc {
	return func(pgid int) func() {
		left := leftInGroup(pgid)
		if len(left) == 0 {
			return nil
		}
		named := make(map[int]string, len(left))
		for _, pid := range left {
			named[pid] = procinfo.Describe([]int{pid})
		}
		return func() {
			killed := procinfo.StillIn(pgid, left)
			if len(killed) == 0 {
				return
			}
			d := make([]string, len(killed))
			for i, pid := range killed {
				d[i] = named[pid]
			}
			log.Warn("the hook exited leaving processes in its process group; poold killed them: a hook's background jobs end with it. "+
				"To start a daemon that outlives the hook, detach it before the hook exits, e.g. setsid -w sh -c 'CMD >/dev/null 2>&1 </dev/null &' (README \"Command hooks\")",
				"killed", strings.Join(d, ", "))
		}
	}
}

// leftInGroup lists the live processes of process group pgid, a command's
// whose leader has exited (its zombie, not reaped yet, keeps the group's
// id from being given anew). The leader's children came to the nearest
// subreaper as it exited: when that is this process (poold's binary, or
// PID 1 of a container), everything left in the group is one of its
// children or descends from one, and a read of its children per thread,
// then of theirs, finds it. Otherwise they went to an ancestor, and one
// pass over /proc does (every process's stat file: a cost hooks pay only
// in a poold that is no subreaper).
func leftInGroup(pgid int) []int {
	if !reapsOrphans() {
		return procinfo.GroupMembers(pgid)
	}
	var out []int
	next := procinfo.InGroup(pgid, procinfo.Children(os.Getpid()))
	seen := map[int]bool{}
	for len(next) > 0 && len(out) < 1000 { // bounded: a fork bomb is killed with the group anyway
		pid := next[0]
		next = next[1:]
		if seen[pid] {
			continue
		}
		seen[pid] = true
		out = append(out, pid)
		next = append(next, procinfo.InGroup(pgid, procinfo.Children(pid))...)
	}
	return out
}

// reapsOrphans tells whether the orphans of this process's descendants
// come to it: it is a subreaper, or PID 1.
func reapsOrphans() bool {
	if os.Getpid() == 1 {
		return true
	}
	var v int32
	err := unix.Prctl(unix.PR_GET_CHILD_SUBREAPER, uintptr(unsafe.Pointer(&v)), 0, 0, 0)
	return err == nil && v != 0
}
