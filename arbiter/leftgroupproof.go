package arbiter

import (
	"errors"
	"syscall"

	"github.com/poold/poold/watcher/procinfo"
	"golang.org/x/sys/unix"
)

// How the drain of a killed worker's process group (leftgroup.go) proves
// a process the worker's. The kernel frees a process group's number, the
// dead worker's pid, only once no process is in the group, a zombie not
// yet reaped included; only then can it give the number to a new process,
// which may start a group of its own under it. So a process listed in the
// group while one already proven the worker's was still in it belongs to
// the worker's group, not to a new one; and what is proven is held by a
// pidfd taken before the proof, so that a pid given anew later is no
// longer it. A process is the worker's when it is in the group and:
//   - at the worker's end: it started at or after the worker's fork and
//     at or before its reap (the group had members all along, so no new
//     process could have its number);
//   - at a sweep: after the listing, a proven one is still in the group,
//     alive or a zombie (its pidfd, alive after its group was read, says
//     the read was its); or its parent is a proven one, alive after the
//     read;
//   - at poold's reap of a proven one (its orphan: poold is the
//     subreaper): every process in the group then, as that one's zombie
//     holds the number until poold reaps it. This catches a child a
//     proven one starts just before it exits (a shutdown hook that starts
//     an uploader and returns), which no sweep 50 ms apart might see
//     beside its parent. Where poold is no subreaper, the parent's parent
//     reaps it, and such a child is proven only if a sweep saw the two
//     together; if not, the drain's end says the group still has
//     processes it could not prove, and leaves them alone.

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

type candidate struct {
	pid, fd int
	m       procinfo.Member
}

// sweep forgets those reaped and takes what joined the group since the
// last sweep; false once none is left. One that ended but is not reaped
// yet, a zombie, is not forgotten: it holds the group's number still, so
// what its listing finds then is the worker's, and poold's reap of it
// (atReap) lists the group once more. So a child started just before its
// parent's exit is never missed between two sweeps.
func (d *groupDrain) sweep() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for p, pr := range d.procs {
		if unix.PidfdSendSignal(pr.fd, 0, nil, 0) != nil {
			d.forget(p) // reaped
		}
	}
	if len(d.procs) == 0 {
		return false
	}
	if err := syscall.Kill(-d.pgid, 0); !errors.Is(err, syscall.ESRCH) {
		d.takeNew()
	} // else ours are still there: stopped, or just ending
	return len(d.procs) > 0
}

// takeNew lists the group and takes those it proves; d.mu held.
func (d *groupDrain) takeNew() {
	var found []candidate
	for _, p := range groupMembers(d.pgid) {
		if _, ok := d.procs[p]; ok {
			continue
		}
		if fd, m, ok := d.take(p); ok {
			found = append(found, candidate{p, fd, m})
		}
	}
	if len(found) == 0 {
		return
	}
	held := d.heldByOurs() // after the listing
	for _, c := range found {
		if pr, ok := d.procs[c.m.PPid]; held || (ok && alive(c.m.PPid, pr.fd)) {
			d.add(c.pid, c.fd)
		} else {
			_ = unix.Close(c.fd)
		}
	}
}

// heldByOurs tells whether one of d's is in the group, alive or a zombie
// (so the group's number is the worker's group's still); d.mu held.
func (d *groupDrain) heldByOurs() bool {
	for p, pr := range d.procs {
		g, err := syscall.Getpgid(p)
		if err == nil && g == d.pgid && unix.PidfdSendSignal(pr.fd, 0, nil, 0) == nil {
			return true // not reaped after the read: the read was p's
		}
	}
	return false
}

// atReap takes every process in the group: p, one of d's, is a zombie
// that poold is about to reap, and holds the group's number if it is in
// the group. It runs on poold's reaping goroutine (spawn.BeforeOrphanReap).
func (d *groupDrain) atReap(p int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed { // p is one of d's, or was until a sweep found it ended
		return
	}
	if g, err := syscall.Getpgid(p); err != nil || g != d.pgid {
		return // it had left the group
	}
	for _, q := range groupMembers(d.pgid) {
		if _, ok := d.procs[q]; ok {
			continue
		}
		if fd, _, ok := d.take(q); ok {
			d.add(q, fd)
		}
	}
}

// unproven lists the live processes still in the group once d has none
// left: those poold could not prove the worker's (nil if none, or the
// group has only zombies).
func (d *groupDrain) unproven() []int {
	if err := syscall.Kill(-d.pgid, 0); errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return groupMembers(d.pgid)
}
