package arbiter

import "github.com/poold/poold/watcher"

// endedBeforeKill tells whether t is the SIGKILL at the end of a stop's
// grace for a worker that has ended already: reaped, its exit on its way
// to the loop behind the clean-up of its cgroup (emptied). Such a worker
// is not killed: in a stop of 10,000 workers, whose clean-ups queue for
// their slots, thousands that had ended of their SIGTERM within
// milliseconds were each logged "stop not over within graceful_timeout"
// (a WARN) and had their cgroup.kill written, which takes the kernel's
// cgroup_mutex and keeps the cgroup from being parked. What it left in
// its cgroup is stopped by the clean-up, killed at the same deadline
// (waitLeft). Without a cgroup the kill goes on: it is what ends what the
// worker left in its process group.
func (a *Arbiter) endedBeforeKill(t watcher.Timer) bool {
	if t.Kind != watcher.TimerKill || a.groups[t.Pid] == nil {
		return false
	}
	p := a.procs[t.Pid]
	if p == nil {
		return false
	}
	if _, _, ok := p.Reaped(); !ok {
		return false
	}
	a.log.Debug("grace over after the worker ended: no kill; its exit is being handled, and what it left in its cgroup is killed at this deadline",
		"pid", t.Pid, "wid", t.Wid)
	return true
}
