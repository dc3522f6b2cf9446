package arbiter

import (
	"fmt"

	"github.com/hashicorp/go-hclog"

	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher/cgroup"
)

// How a drain of what a worker killed by a signal left ended (leftdrain.go),
// when its cgroup emptied before graceful_timeout: on its own, or with the OOM
// killer taking some of it. Each says so.

// drainEndedInTime logs the end of a drain of g that emptied within s.grace.
func (a *Arbiter) drainEndedInTime(log hclog.Logger, pid int, g *cgroup.Group, s leftStop) {
	oom := a.drainOOM(log, pid, g, s)
	if oom > 0 {
		log.Info("what a worker killed by a signal left has ended within graceful_timeout, the OOM killer killing some of it (see the WARN before)",
			"graceful_timeout", s.grace, "oom_kills", oom)
		return
	}
	log.Info("what a worker killed by a signal left has ended within graceful_timeout", "graceful_timeout", s.grace)
}

// drainOOM reports, as childOOM does for a running worker's children, the
// OOM kills g counted since the drain began (drainStart read its counter
// for the worker's own end): a WARN, and an unhealthy event with the
// count, which poold_worker_oom_kills_total counts. A request that grew
// as a killed master's worker finished it is such a kill; the loop has
// forgotten g by then, so nothing else tells of it. Only under the
// watcher's memory_max, as childOOM: without one the kill was of a limit
// above (poold's cgroup's), which that cgroup's counter tells of (v2).
// It says how many.
func (a *Arbiter) drainOOM(log hclog.Logger, pid int, g *cgroup.Group, s leftStop) int {
	n := g.OOMKillsSince()
	wid, lim := g.Slot()
	if n <= 0 || lim.MemoryMax == 0 {
		return 0
	}
	a.outer.Consume(n) // v2 counts it in poold's cgroup too: not one to tell again
	log.Warn("the OOM killer killed a process of what a worker killed by a signal left, as it finished, under its watcher's memory_max. "+
		"Raise memory_max, or find what grows: poolctl stats NAME --extended; the kernel log names the process (dmesg | grep -i 'killed process')",
		"wid", wid, "oom_kills", n, "memory_max", lim.MemoryMax)
	fields := map[string]any{
		"process_pid": pid, "process_id": wid, "oom_kills": n, "memory_max": lim.MemoryMax,
		"reason": fmt.Sprintf("the OOM killer killed %d process(es) of what worker %d, killed by a signal, left in its cgroup %s, under memory_max %d bytes",
			n, pid, g.Dir, lim.MemoryMax),
	}
	a.post(funcMsg{func() { (host{a}).Publish(s.watcher, events.KindUnhealthy, fields) }}) // Publish is the loop's
	return n
}
