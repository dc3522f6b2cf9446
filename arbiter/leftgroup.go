package arbiter

import (
	"maps"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/poold/poold/watcher"
	"github.com/poold/poold/watcher/procinfo"
	"github.com/poold/poold/watcher/spawn"
	"golang.org/x/sys/unix"
)

// What a worker killed by a signal leaves in its process group, without
// cgroups (leftdrain.go is the cgroup's part). A gunicorn master's
// workers stay in the master's process group, so a kill -9 of the master
// leaves them there, finishing their requests; they get the watcher's
// stop_signal and SIGKILL at its graceful_timeout, as in a cgroup, while
// the slot's next worker starts. Unlike a cgroup, a process group is only
// a number, the dead worker's pid, which the kernel may give to a new
// process once the group is empty; so poold signals no group, but each
// process it can prove is the worker's, through a pidfd taken before the
// proof (a pid given anew later is another pidfd's). leftgroupproof.go
// says how it proves them.
//
// Where the kernel has no pidfds (before Linux 5.3), or no member can be
// proven, what the worker left is killed at once, as before.

// groupDrain is what a dead worker, pgid, left in its process group.
// The drain's goroutine and poold's reaper (atReap) share it, under mu.
type groupDrain struct {
	pgid    int
	mu      sync.Mutex
	procs   map[int]proven
	killing bool // past graceful_timeout: each new one is SIGKILLed
	closed  bool
}

// proven is a process proven the worker's: its pidfd, and the cancel of
// its reap's call to atReap.
type proven struct {
	fd      int
	unwatch func()
}

// newGroupDrain proves and takes what pid, a worker that started at since
// (boot ticks, 0: unknown) and has been reaped, left in its process
// group: nil when poold cannot (no pidfds, nothing provable), or it left
// nothing running.
func newGroupDrain(pid int, since uint64) *groupDrain {
	reaped := procinfo.BootTicks()
	pids := groupLeft(pid)
	if len(procinfo.LeftRunning(pids)) == 0 {
		return nil
	}
	d := &groupDrain{pgid: pid, procs: make(map[int]proven)}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, p := range pids {
		fd, m, ok := d.take(p)
		if !ok {
			continue
		}
		if m.Start < since || m.Start > reaped {
			_ = unix.Close(fd)
			continue
		}
		d.add(p, fd)
	}
	if len(d.procs) == 0 {
		return nil
	}
	return d
}

// add makes p, held by fd, one of d's; d.mu held.
func (d *groupDrain) add(p, fd int) {
	d.procs[p] = proven{fd: fd, unwatch: spawn.BeforeOrphanReap(p, func() { d.atReap(p) })}
	if d.killing {
		_ = unix.PidfdSendSignal(fd, syscall.SIGKILL, nil, 0)
	}
}

// forget closes p's pidfd; d.mu held.
func (d *groupDrain) forget(p int) {
	pr := d.procs[p]
	pr.unwatch()
	_ = unix.Close(pr.fd)
	delete(d.procs, p)
}

// signal sends sig to each (and SIGCONT after any other than SIGKILL, so
// that a suspended one acts on it).
func (d *groupDrain) signal(sig syscall.Signal) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, pr := range d.procs {
		_ = unix.PidfdSendSignal(pr.fd, sig, nil, 0)
		if sig != syscall.SIGKILL {
			_ = unix.PidfdSendSignal(pr.fd, syscall.SIGCONT, nil, 0)
		}
	}
}

// running counts those that have not ended.
func (d *groupDrain) running() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for p, pr := range d.procs {
		if alive(p, pr.fd) {
			n++
		}
	}
	return n
}

// alive: p, held by fd, neither ended nor a zombie.
func alive(p, fd int) bool {
	if unix.PidfdSendSignal(fd, 0, nil, 0) != nil {
		return false
	}
	// Not reaped yet, so /proc/p is still p's.
	_, err := procinfo.MemberOf(p)
	return err == nil
}

// wait sweeps until none is left, for at most dur; false if some are.
func (d *groupDrain) wait(dur time.Duration) bool {
	deadline := time.NewTimer(max(dur, 0))
	defer deadline.Stop()
	tick := time.NewTicker(groupPoll)
	defer tick.Stop()
	for d.sweep() {
		select {
		case <-tick.C:
		case <-deadline.C:
			return !d.sweep()
		}
	}
	return true
}

// kill SIGKILLs those left, and those found later; it returns how many
// were running.
func (d *groupDrain) kill() int {
	n := d.running()
	d.mu.Lock()
	d.killing = true
	d.mu.Unlock()
	d.signal(syscall.SIGKILL)
	return n
}

// pids lists those not known to have ended.
func (d *groupDrain) pids() []int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Sorted(maps.Keys(d.procs))
}

func (d *groupDrain) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	for p := range d.procs {
		d.forget(p)
	}
}

// groupDrainOf is the drain of what pid, a worker without a cgroup that a
// signal ended while it was not being stopped, left in its process
// group; nil for any other end, or when poold can prove nothing it left.
func (a *Arbiter) groupDrainOf(o strayOwner, pid int, ex spawn.Exit, s leftStop) *groupDrain {
	if _, stopping := a.stops.get(pid); stopping || ex.Signal == 0 || s.sig == 0 {
		return nil
	}
	return newGroupDrain(pid, o.since)
}

// groupDrainStart sends d, what pid left, s.sig, and fills in end: how
// many were running, the signal and the grace. The rest, groupDrainRest,
// runs once the end is posted.
func (a *Arbiter) groupDrainStart(pid int, d *groupDrain, s leftStop, end *watcher.End) {
	end.Left = d.running()
	d.signal(s.sig)
	end.LeftSignal, end.LeftGrace = s.sig, s.grace
	a.drains.add(pid, s.watcher, time.Now().Add(s.grace))
}

// groupDrainRest waits up to s.grace for d to end, SIGKILLs what is left
// then, and logs and publishes how they ended, as drainRest for a cgroup.
func (a *Arbiter) groupDrainRest(o strayOwner, pid int, d *groupDrain, s leftStop, left int) {
	defer a.drains.done(pid)
	defer d.close()
	began, killed := time.Now(), 0
	defer func() { a.drainEnded(o, pid, s, left, killed, began) }()
	log := a.log.With("watcher", s.watcher, "pid", pid, "process_group", pid)
	defer func() { sayUnproven(log, d) }()
	if d.wait(s.grace) {
		if len(d.unproven()) == 0 {
			log.Info("what a worker killed by a signal left has ended within graceful_timeout", "graceful_timeout", s.grace)
		}
		return
	}
	killed = d.kill()
	log.Warn("poold killed what a worker killed by a signal left, still running at graceful_timeout",
		"killed", killed, "graceful_timeout", s.grace)
	if !d.wait(emptyGrace) {
		log.Error("what a worker killed by a signal left did not end after SIGKILL", "pids", d.pids())
	}
}

// sayUnproven warns of the processes still in d's group once those poold
// proved the worker's have ended: it could not prove them (see
// leftgroupproof.go), so it has not signalled them, and says so rather
// than that all has ended.
func sayUnproven(log hclog.Logger, d *groupDrain) {
	rest := d.unproven()
	if len(rest) == 0 {
		return
	}
	log.Warn("what a worker killed by a signal left in its process group has not all ended: poold stopped what it could prove the worker's, "+
		"but the group still has processes it cannot prove are (they joined after the last proven one was gone, and the group's number may be a new process's), "+
		"and leaves them running; if they are the worker's, stop them (kill PID), or give poold a cgroup per worker (README \"Containment\")",
		"processes", describePids(rest))
}
