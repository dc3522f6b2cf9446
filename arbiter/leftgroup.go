package arbiter

import (
	"errors"
	"maps"
	"slices"
	"syscall"
	"time"

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
// proof (a pid given anew later is another pidfd's):
//   - at the worker's end: in its group, started at or after its fork and
//     at or before its reap (while the group had members, so before any
//     process could be given the group's number);
//   - later: in its group, and a child of one proven so.
//
// Where the kernel has no pidfds (before Linux 5.3), or no member can be
// proven, what the worker left is killed at once, as before.

// groupDrain is what a dead worker, pgid, left in its process group.
type groupDrain struct {
	pgid    int
	procs   map[int]int // pid -> its pidfd
	killing bool        // past graceful_timeout: each new one is SIGKILLed
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
	d := &groupDrain{pgid: pid, procs: make(map[int]int)}
	for _, p := range pids {
		fd, m, ok := d.take(p)
		if !ok {
			continue
		}
		if m.Start < since || m.Start > reaped {
			_ = unix.Close(fd)
			continue
		}
		d.procs[p] = fd
	}
	if len(d.procs) == 0 {
		return nil
	}
	return d
}

// take opens a pidfd of p and reads it: ok when p, as the pidfd holds it,
// lives in d's group (it was alive after the read, so the read was its).
func (d *groupDrain) take(p int) (fd int, m procinfo.Member, ok bool) {
	fd, err := unix.PidfdOpen(p, 0)
	if err != nil {
		return -1, m, false // ENOSYS among them: nothing is proven
	}
	m, err = procinfo.MemberOf(p)
	if err != nil || m.Pgrp != d.pgid || unix.PidfdSendSignal(fd, 0, nil, 0) != nil {
		_ = unix.Close(fd)
		return -1, m, false
	}
	return fd, m, true
}

// signal sends sig to each (and SIGCONT after any other than SIGKILL, so
// that a suspended one acts on it).
func (d *groupDrain) signal(sig syscall.Signal) {
	for _, fd := range d.procs {
		_ = unix.PidfdSendSignal(fd, sig, nil, 0)
		if sig != syscall.SIGKILL {
			_ = unix.PidfdSendSignal(fd, syscall.SIGCONT, nil, 0)
		}
	}
}

// running counts those that have not ended.
func (d *groupDrain) running() int {
	n := 0
	for p, fd := range d.procs {
		if alive(p, fd) {
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

// sweep forgets those that ended and takes the children the others forked
// since; false once none is left.
func (d *groupDrain) sweep() bool {
	for p, fd := range d.procs {
		if !alive(p, fd) {
			_ = unix.Close(fd)
			delete(d.procs, p)
		}
	}
	if len(d.procs) == 0 {
		return false
	}
	if err := syscall.Kill(-d.pgid, 0); errors.Is(err, syscall.ESRCH) {
		return true // ours are still there: stopped, or just ending
	}
	for _, p := range procinfo.GroupMembers(d.pgid) {
		if _, ok := d.procs[p]; ok {
			continue
		}
		fd, m, ok := d.take(p)
		if !ok {
			continue
		}
		// Its parent's pidfd, alive after the read, says the parent
		// still holds that number.
		if pfd, ok := d.procs[m.PPid]; !ok || !alive(m.PPid, pfd) {
			_ = unix.Close(fd)
			continue
		}
		d.procs[p] = fd
		if d.killing {
			_ = unix.PidfdSendSignal(fd, syscall.SIGKILL, nil, 0)
		}
	}
	return true
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
	d.killing = true
	n := d.running()
	d.signal(syscall.SIGKILL)
	return n
}

func (d *groupDrain) close() {
	for p, fd := range d.procs {
		_ = unix.Close(fd)
		delete(d.procs, p)
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
	if d.wait(s.grace) {
		log.Info("what a worker killed by a signal left has ended within graceful_timeout", "graceful_timeout", s.grace)
		return
	}
	killed = d.kill()
	log.Warn("poold killed what a worker killed by a signal left, still running at graceful_timeout",
		"killed", killed, "graceful_timeout", s.grace)
	if !d.wait(emptyGrace) {
		log.Error("what a worker killed by a signal left did not end after SIGKILL", "pids", slices.Sorted(maps.Keys(d.procs)))
	}
}
