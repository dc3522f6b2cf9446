package arbiter

import (
	"context"

	"github.com/poold/poold/watcher/cgroup"
	"github.com/poold/poold/watcher/procinfo"
)

// Workers that left their cgroup. A worker running as root may write its
// pid into any cgroup.procs (the root's, say): its memory_max, pids_max
// and cpu_max then no longer apply, and a stop's cgroup.kill misses it.
// Nothing stops it short of a uid for the watcher (or systemd's
// ProtectControlGroups=, a read-only cgroup filesystem), so poold tells:
// on each stats tick (at its idle back-off too) it reads /proc/PID/cgroup
// of each worker that has a cgroup and runs as poold's user or root
// (BenchmarkLeft: 41 µs each on a loaded 2-core host, so about 41 ms of
// the stats goroutine a tick for 1,000 such workers), off the loop, and
// warns once per worker that left.

// escapeLook is one worker whose cgroup the stats goroutine checks.
type escapeLook struct {
	name     string
	pid, wid int
	g        *cgroup.Group
}

// lookForEscapes, on the stats goroutine, warns of each worker that left
// its cgroup since the last look; warned holds those told already and is
// the stats goroutine's.
func (a *Arbiter) lookForEscapes(ctx context.Context, warned map[int]bool) {
	if !a.contained.Load() {
		return // no cgroups: nothing to wake the loop for
	}
	looks := a.escapeLooks(ctx)
	current := make(map[int]bool, len(looks))
	for _, l := range looks {
		current[l.pid] = true
		if warned[l.pid] {
			continue
		}
		if where := l.g.Left(l.pid); where != "" && !procinfo.Dying(l.pid) {
			warned[l.pid] = true
			a.log.Warn("a worker left its cgroup: its memory_max, pids_max and cpu_max no longer apply to it, and a stop's kill of its cgroup misses it; "+
				"a worker running as root can do this: give the watcher a uid (README \"A cgroup per worker\")",
				"watcher", l.name, "wid", l.wid, "pid", l.pid, "cgroup", l.g.Dir, "now_in", where)
		}
	}
	for pid := range warned {
		if !current[pid] {
			delete(warned, pid) // ended: its pid may come again
		}
	}
}

// escapeLooks lists, from the loop, the workers that have a cgroup.
func (a *Arbiter) escapeLooks(ctx context.Context) []escapeLook {
	return fromLoop(a, ctx, func() []escapeLook {
		var out []escapeLook
		if len(a.groups) > 0 {
			for _, w := range a.watchers {
				if uid := w.Spec().UID; uid != "" && uid != "0" && uid != "root" {
					continue // another user's: EACCES on every cgroup.procs but its own tree's
				}
				for _, p := range w.Processes() {
					if g := a.groups[p.Pid]; g != nil {
						out = append(out, escapeLook{name: w.Name(), pid: p.Pid, wid: p.Wid, g: g})
					}
				}
			}
		}
		return out
	})
}
