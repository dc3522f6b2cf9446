package arbiter

import (
	"os"
	"slices"
	"syscall"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/procinfo"
)

// What workers left outside their process groups. poold is the subreaper
// of its workers' orphans, so a process a worker moved out of its group
// (a child that called setsid, then lost its parent) becomes poold's
// child. With a cgroup per worker a stop reaches it (cgroup.kill); with
// process groups only no stop does, and once poold exited it went on
// under init, unseen: holding a port, or running a job nobody stops.
// One whose environment names a worker goes as that worker ends
// (strays.go). When poold exits after a stop, it stops those it still
// holds, as systemd's KillMode=control-group stops what is left of a unit, and
// names them in its log. Not its other children: those in its own
// process group (a wrapper's `> >(tee LOG)` reading poold's output) and
// those it had when it started (a wrapper's helpers, exec'd over).

// orphanGrace is how long what workers left outside their groups has,
// after SIGTERM as poold exits, before SIGKILL.
const orphanGrace = 2 * time.Second

// endOrphans stops poold's children that are no worker's, once every
// watcher has stopped: SIGTERM, SIGKILL after orphanGrace (at once after
// a third stop request, Kill). It looks again every groupPoll, since one
// that ends (a shell that ran a daemon) hands its own children to poold.
// Only where poold reaps its workers' orphans (its own binary; run as a
// library, its process's children are not its own to stop), and with a
// /proc of its own pid namespace (another's children are not poold's).
// With a cgroup per worker, what workers left went with their cgroups;
// what is left then is a hook's or a probe's (a daemon a hook started),
// in no worker's cgroup, which would otherwise outlive poold.
func (a *Arbiter) endOrphans() {
	if !a.opts.ReapOrphans || a.foreignProc {
		return
	}
	killAt := time.Now().Add(orphanGrace)
	if a.hurried {
		killAt = time.Now()
	}
	giveUp := killAt.Add(emptyGrace)
	hurry := a.hurry // nil once taken: a closed channel is always ready
	sent := make(map[int]syscall.Signal)
	tick := time.NewTicker(groupPoll)
	defer tick.Stop()
	for {
		left := a.strayChildren()
		if len(left) == 0 {
			return
		}
		now := time.Now()
		if now.After(giveUp) {
			a.log.Error("processes workers left outside their process groups did not end after SIGKILL", "processes", describePids(left))
			return
		}
		sig := syscall.SIGTERM
		if !now.Before(killAt) {
			sig = syscall.SIGKILL
		}
		var fresh, send []int
		for _, p := range left {
			prev, ok := sent[p]
			if !ok {
				fresh = append(fresh, p)
			}
			if !ok || (prev != sig && prev != syscall.SIGKILL) {
				send = append(send, p)
				sent[p] = sig
			}
		}
		if len(fresh) > 0 {
			a.log.Warn("stopping poold's child processes that are no worker's (what workers left outside their process groups or their cgroups, which no stop reaches, or a hook's or probe's still running)",
				"count", len(fresh), "processes", describePids(fresh), "signal", configs.SignalName(sig), "sigkill_in", max(time.Until(killAt), 0).Round(time.Millisecond))
		}
		for _, p := range send {
			_ = syscall.Kill(p, sig)
			if sig != syscall.SIGKILL {
				_ = syscall.Kill(p, syscall.SIGCONT)
			}
		}
		select {
		case <-tick.C:
		case <-hurry:
			killAt, hurry = time.Now(), nil
		}
	}
}

// strayChildren lists poold's running children that are not in its own
// process group and that it did not have when it started.
func (a *Arbiter) strayChildren() []int {
	own := syscall.Getpgrp()
	return slices.DeleteFunc(procinfo.Running(childPids(os.Getpid())), func(p int) bool {
		g, err := syscall.Getpgid(p)
		return err != nil || g == own || a.inherited[p] || a.drains.has(g)
	})
}

// describePids names each pid with its command line: "812 (sleep 3600)".
func describePids(pids []int) string { return procinfo.Describe(pids) }
