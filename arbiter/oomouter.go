package arbiter

import (
	"slices"
	"strings"

	"github.com/poold/poold/events"
)

// outerChildOOM reports n OOM kills of poold's own memory cgroup (a
// container's, MemoryMax=) that no worker's end claimed (cgroup.Outer's
// Observe): processes that were no worker, most likely a child of one (a
// gunicorn or uvicorn worker), which the master replaced or not. They
// were dropped without a word (r62 M1). The kernel names the process
// only in its log; poold names the watcher when one alone has workers
// without a memory_max of their own (those with one count their own
// kills, oomchild.go), and otherwise the watchers it may be of.
func (a *Arbiter) outerChildOOM(n int) {
	var maybe []string
	for _, w := range a.watchers {
		if w.Spec().MemoryMax == 0 && len(w.Processes()) > 0 {
			maybe = append(maybe, w.Name())
		}
	}
	slices.Sort(maybe)
	where := a.outer.Limited()
	if where == "" {
		where = "poold's cgroup (no memory limit of its own: the machine's memory or a limit above it)"
	}
	const msg = "the OOM killer of poold's cgroup killed a process that was no worker (a worker's child: a gunicorn or uvicorn worker); " +
		"the worker runs on if it replaces its child. Raise that limit, or set memory_max on the watcher so that its workers get a limit, " +
		"and poold a count, of their own; the kernel log names the process (dmesg | grep -i 'killed process')"
	fields := map[string]any{"oom_kills": n, "cgroup": where}
	switch len(maybe) {
	case 1:
		fields["watcher"] = maybe[0]
		a.log.Warn(msg, "watcher", maybe[0], "oom_kills", n, "cgroup", where)
		(host{a}).Publish(maybe[0], events.KindUnhealthy, map[string]any{
			"reason":    "the OOM killer of poold's cgroup " + where + " killed a process of this watcher's workers (a child); they run on",
			"oom_kills": n, "cgroup": where})
	default:
		who := "poold cannot tell which watcher's: its workers have no cgroup count of their own (no memory_max)"
		if len(maybe) > 1 {
			who += "; one of " + strings.Join(maybe, ", ")
		}
		fields["watchers"] = maybe
		a.log.Warn(msg, "watcher", who, "oom_kills", n, "cgroup", where)
	}
	a.bus.Publish("", events.KindUnhealthy, fields)
}
