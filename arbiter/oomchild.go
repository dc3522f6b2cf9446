package arbiter

import (
	"context"
	"fmt"

	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher/cgroup"
	"github.com/poold/poold/watcher/procinfo"
)

// OOM kills inside a live worker's cgroup. A gunicorn or uvicorn master
// is the worker poold starts; its children serve, and under the
// watcher's memory_max the OOM killer takes the largest of them, a child,
// which the master replaces. The worker's end (contain.go, ended) reads
// the cgroup's OOM counter, but the master does not end: without this
// look the kill, caused by a poold setting, shows only as the master's
// own line about a child killed by signal 9.
//
// The stats goroutine looks, each stats interval, at the counters of the
// workers of watchers with a memory_max (a file read of under 10 us
// each), off the loop; the loop keeps, per worker, the count it has
// reported (oomSeen), so each kill is told once. A kill of the worker
// itself is left to its end, which calls it the reason: a worker dying
// (a SIGKILL pending, a zombie) when its counter moved is not looked at.

// oomLook is one worker whose cgroup counter the stats goroutine reads.
type oomLook struct {
	name     string
	pid, wid int
	g        *cgroup.Group
	seen     int    // the counter's total already accounted for
	max      uint64 // its watcher's memory_max
	total    int    // what the read found
}

// noteMemoryLimits records whether any watcher has a memory_max, for the
// stats goroutine (noteLimits calls it).
func (a *Arbiter) noteMemoryLimits() {
	has := false
	for _, w := range a.watchers {
		if w.Spec().MemoryMax > 0 {
			has = true
			break
		}
	}
	a.memLimits.Store(has)
}

// lookForChildOOM, on the stats goroutine, reads the OOM counters of the
// workers under a memory_max and has the loop report those that moved.
// It says whether there was anything to look at.
func (a *Arbiter) lookForChildOOM(ctx context.Context) bool {
	if !a.memLimits.Load() {
		return false
	}
	looks := a.oomLooks(ctx)
	var moved []oomLook
	for _, l := range looks {
		l.total = l.g.OOMTotal()
		if l.total > l.seen && !procinfo.Dying(l.pid) {
			moved = append(moved, l)
		}
	}
	if len(moved) > 0 {
		a.postCtx(ctx, funcMsg{func() { a.childOOM(moved) }})
	}
	return len(looks) > 0
}

// oomLooks lists, from the loop, the workers whose counters to read.
func (a *Arbiter) oomLooks(ctx context.Context) []oomLook {
	return fromLoop(a, ctx, func() []oomLook {
		var out []oomLook
		for _, w := range a.watchers {
			max := w.Spec().MemoryMax
			if max == 0 {
				continue
			}
			for _, p := range w.Processes() {
				if g := a.groups[p.Pid]; g != nil {
					out = append(out, oomLook{name: w.Name(), pid: p.Pid, wid: p.Wid, g: g, seen: a.oomSeen[p.Pid].seen, max: max})
				}
			}
		}
		return out
	})
}

// childOOM, on the loop, reports the OOM kills found in the cgroups of
// workers that still run: a WARN and an unhealthy event with the count
// (poold_worker_oom_kills_total counts them). The kernel names the
// process it killed only in its own log, not in the cgroup's files.
func (a *Arbiter) childOOM(moved []oomLook) {
	for _, l := range moved {
		acc, ok := a.oomSeen[l.pid]
		if a.groups[l.pid] != l.g || !ok || acc.seen >= l.total {
			continue // ended meanwhile, or told already
		}
		n := l.total - acc.seen
		acc.seen = l.total
		a.oomSeen[l.pid] = acc
		a.outer.Consume(n) // v2 counts it in poold's cgroup too: not one to tell again
		reason := fmt.Sprintf("the OOM killer killed %d process(es) in the cgroup of worker %d under memory_max %d bytes; the worker runs on", n, l.pid, l.max)
		a.log.Warn("the OOM killer killed a process of a worker (a child: a gunicorn or uvicorn worker) under its watcher's memory_max; "+
			"the worker runs on. Raise memory_max, or find what grows: poolctl stats NAME --extended; the kernel log names the process (dmesg | grep -i 'killed process')",
			"watcher", l.name, "wid", l.wid, "pid", l.pid, "oom_kills", n, "memory_max", l.max)
		(host{a}).Publish(l.name, events.KindUnhealthy, map[string]any{
			"process_pid": l.pid, "process_id": l.wid, "reason": reason, "oom_kills": n, "memory_max": l.max})
	}
}

// oomAccount is what the loop told of a worker's cgroup OOM counter:
// base, the counter when the worker started in it (cgroup.Group.OOMBase),
// and seen, the counter as last reported (seen-base kills of its
// children).
type oomAccount struct{ base, seen int }

// tookOn starts the OOM account of a worker that runs in g (nil: none).
func (a *Arbiter) tookOn(pid int, g *cgroup.Group) {
	if g != nil {
		n := g.OOMBase()
		a.oomSeen[pid] = oomAccount{base: n, seen: n}
	}
}

// oomTold ends the OOM account of pid, whose exit the loop handles, and
// says how many of the kills its end counts (watcher.End.OOM) were told
// already as its children's: those are not its own end's cause (r62 H1:
// a kill -9 of a gunicorn master whose child had been OOM-killed a
// minute before was called an OOM kill).
func (a *Arbiter) oomTold(pid int) int {
	acc := a.oomSeen[pid]
	delete(a.oomSeen, pid)
	return acc.seen - acc.base
}
