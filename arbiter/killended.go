package arbiter

import (
	"errors"
	"os"
	"strconv"
	"syscall"

	"github.com/poold/poold/watcher"
)

// endedBeforeKill tells whether t is the SIGKILL at the end of a stop's
// grace for a worker that has ended already: reaped, its exit on its way
// to the loop behind the clean-up of its cgroup (emptied) or of its
// process group (groupEmptied, which waits for scans of poold's children
// shared by every end: strayscan.go). Such a worker is not killed: in a
// stop of 10,000 workers, whose clean-ups queue, thousands that had ended
// of their SIGTERM within milliseconds were each logged "stop not over
// within graceful_timeout" (a WARN) and had their cgroup.kill written,
// which takes the kernel's cgroup_mutex and keeps the cgroup from being
// parked; without cgroups (5,000 workers at load 50: 3,744 of them), each
// kill also counted what the worker left with a pass over all of /proc
// (leftAtKill), on the loop. The kill is skipped only while what the
// worker left is gone: its cgroup empty (one read of its cgroup.events),
// or its process group (groupGone). While the worker left something
// there, the kill goes on, since this deadline may be earlier than the
// one the clean-up read (waitLeft, groupEnded), as after a kill with a
// shorter graceful_timeout.
func (a *Arbiter) endedBeforeKill(t watcher.Timer) bool {
	if t.Kind != watcher.TimerKill {
		return false
	}
	p := a.procs[t.Pid]
	if p == nil {
		return false
	}
	if _, _, ok := p.Reaped(); !ok {
		return false
	}
	if g := a.groups[t.Pid]; g != nil {
		if full, err := g.Populated(); err != nil || full {
			return false
		}
	} else if !groupGone(t.Pid) {
		return false
	}
	a.log.Debug("grace over after the worker ended: no kill; its exit is being handled and what it left is gone",
		"pid", t.Pid, "wid", t.Wid)
	return true
}

// groupGone tells, in O(1), whether the process group of pid, a worker
// reaped already, has ended: no process is in it (kill(-pid, 0) says
// ESRCH), or /proc/<pid> is there, which means the kernel has given the
// number to a new process, as it does only once the worker's group has
// ended (that new process's group is not the worker's). A group that has
// only zombies still counts as there, as does anything else in doubt:
// the kill then goes on, as before.
func groupGone(pid int) bool {
	if err := syscall.Kill(-pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	_, err := os.Stat("/proc/" + strconv.Itoa(pid))
	return err == nil
}
