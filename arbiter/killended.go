package arbiter

import "github.com/poold/poold/watcher"

// endedBeforeKill tells whether t is the SIGKILL at the end of a stop's
// grace for a worker that has ended already: reaped, its exit on its way
// to the loop behind the clean-up of its cgroup (emptied). Such a worker
// is not killed: in a stop of 10,000 workers, whose clean-ups queue for
// their slots, thousands that had ended of their SIGTERM within
// milliseconds were each logged "stop not over within graceful_timeout"
// (a WARN) and had their cgroup.kill written, which takes the kernel's
// cgroup_mutex and keeps the cgroup from being parked. The kill is
// skipped only while the worker's cgroup is empty (one read of its
// cgroup.events): while it holds what the worker left, the kill goes on,
// since this deadline may be earlier than the one the clean-up read
// (waitLeft), as after a kill with a shorter graceful_timeout. Without a
// cgroup the kill goes on: it is what ends what the worker left in its
// process group.
func (a *Arbiter) endedBeforeKill(t watcher.Timer) bool {
	g := a.groups[t.Pid]
	if t.Kind != watcher.TimerKill || g == nil {
		return false
	}
	p := a.procs[t.Pid]
	if p == nil {
		return false
	}
	if _, _, ok := p.Reaped(); !ok {
		return false
	}
	if full, err := g.Populated(); err != nil || full {
		return false
	}
	a.log.Debug("grace over after the worker ended: no kill; its exit is being handled and its cgroup is empty",
		"pid", t.Pid, "wid", t.Wid)
	return true
}
