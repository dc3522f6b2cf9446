package arbiter

import (
	"context"
	"errors"
	"syscall"

	"github.com/poold/poold/watcher/cgroup"
	"github.com/poold/poold/watcher/procinfo"
)

// Workers that left their cgroup. A worker running as root may write its
// pid into any cgroup.procs (the root's, say): its memory_max, pids_max
// and cpu_max then no longer apply, and a stop's cgroup.kill misses it.
// Nothing stops it short of a uid for the watcher (or systemd's
// ProtectControlGroups=, a read-only cgroup filesystem), so poold tells:
// on its stats ticks (at the idle back-off too) it reads /proc/PID/cgroup
// of the workers of watchers with a cgroup limit (memory_max, pids_max,
// cpu_max) that run as poold's user or root, off the loop, and warns once
// per worker that left. At most escapeBudget workers a tick, in turn:
// BenchmarkLeft gives 41 µs a look on a loaded 2-core host, and a look at
// each of 10,000 workers every tick took 5.5 % of a core from an idle
// poold (issue 18 wants under 1 %); 64 a tick costs ~2.6 ms, and a pool
// of 1,000 limited workers is gone through every 16 ticks. A watcher
// without limits is not looked at: nothing of it stops applying.

// escapeBudget is the most workers one stats tick looks at.
const escapeBudget = 64

// escapeLook is one worker whose cgroup the stats goroutine checks.
type escapeLook struct {
	name     string
	pid, wid int
	g        *cgroup.Group
}

// escapeWatch is the stats goroutine's state of its looks: where the next
// tick starts, and the workers told of.
type escapeWatch struct {
	next   int
	warned map[escaped]bool
	budget int // looks a tick; 0: escapeBudget
}

// escaped is a worker told of: its pid in its cgroup (a slot's next
// worker may start in the same cgroup, parked meanwhile).
type escaped struct {
	dir string
	pid int
}

// lookForEscapes, on the stats goroutine, warns of each worker that left
// its cgroup since the last look, looking at the next escapeBudget
// workers of watchers with a cgroup limit.
func (a *Arbiter) lookForEscapes(ctx context.Context, st *escapeWatch) {
	if !a.contained.Load() || !a.cgroupLimits.Load() {
		return // nothing to look at: no wake of the loop
	}
	budget := st.budget
	if budget <= 0 {
		budget = escapeBudget
	}
	looks, total := a.escapeLooks(ctx, st.next, budget)
	if st.warned == nil {
		st.warned = map[escaped]bool{}
	}
	for _, l := range looks {
		key := escaped{l.g.Dir, l.pid}
		if st.warned[key] {
			continue
		}
		if where := l.g.Left(l.pid); where != "" && !procinfo.Dying(l.pid) {
			st.warned[key] = true
			a.log.Warn("a worker left its cgroup: its memory_max, pids_max and cpu_max no longer apply to it, and a stop's kill of its cgroup misses it; "+
				"a worker running as root can do this: give the watcher a uid (README \"A cgroup per worker\")",
				"watcher", l.name, "wid", l.wid, "pid", l.pid, "cgroup", l.g.Dir, "now_in", where)
		}
	}
	if st.next += len(looks); st.next < total {
		return
	}
	st.next = 0
	// A pass ended: forget those told of whose worker ended. Not by
	// what this pass saw: workers that ended before the look's place in
	// the list move the rest up, past it, unseen (review: a decr warned
	// again of workers told of already).
	for k := range st.warned {
		if errors.Is(syscall.Kill(k.pid, 0), syscall.ESRCH) {
			delete(st.warned, k)
		}
	}
}

// escapeLooks lists, from the loop, up to n of the workers to look at,
// from the from-th on, and how many there are: the workers with a cgroup
// of each watcher with a cgroup limit that does not run as another user
// (whose workers get EACCES on every cgroup.procs but their tree's).
func (a *Arbiter) escapeLooks(ctx context.Context, from, n int) ([]escapeLook, int) {
	type answer struct {
		looks []escapeLook
		total int
	}
	r := fromLoop(a, ctx, func() answer {
		var r answer
		if len(a.groups) == 0 {
			return r
		}
		for _, w := range a.sorted(limitedCgroup) {
			if uid := w.Spec().UID; uid != "" && uid != "0" && uid != "root" {
				continue
			}
			for _, p := range w.Processes() {
				g := a.groups[p.Pid]
				if g == nil {
					continue
				}
				if r.total >= from && len(r.looks) < n {
					r.looks = append(r.looks, escapeLook{name: w.Name(), pid: p.Pid, wid: p.Wid, g: g})
				}
				r.total++
			}
		}
		return r
	})
	return r.looks, r.total
}
