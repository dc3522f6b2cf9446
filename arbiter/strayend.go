package arbiter

import (
	"errors"
	"syscall"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/procinfo"
	"golang.org/x/sys/unix"
)

// strayStop stops the strays of a worker without a cgroup that has ended,
// as a cgroup's end stops what a worker left in it: the signal first,
// then SIGKILL. For a worker being stopped the signal is its stop signal,
// which went to its process group and so missed them, and the SIGKILL
// comes at the stop's deadline (graceful_timeout), as for what it left in
// its group; for one that ended on its own (a program that daemonized)
// it is SIGTERM, and SIGKILL orphanGrace later. Each is signalled through
// a pidfd taken as it is first seen, so that a pid the kernel gives anew
// meanwhile is never signalled.
type strayStop struct {
	a        *Arbiter
	o        strayOwner
	pid      int // the worker's
	sig      syscall.Signal
	killAt   time.Time
	stopping bool
	seen     map[int]*strayProc
	blank    bool // the last step saw a stray with a blank environment
	killedN  int  // running at the SIGKILL, if one was needed
	killed   bool
}

// strayProc is a stray being stopped: a pidfd (-1: the kernel has none,
// it is signalled by pid) and the last signal sent.
type strayProc struct {
	fd   int
	sent syscall.Signal
}

// beginStrays signals the strays of o (pid, without a cgroup) that run
// now, before what it left in its process group is waited for; nil when
// poold does not look for strays.
func (a *Arbiter) beginStrays(o strayOwner, pid int) *strayStop {
	if !a.watchStrays() || o.since == 0 {
		return nil
	}
	st := &strayStop{a: a, o: o, pid: pid, sig: syscall.SIGTERM, seen: make(map[int]*strayProc)}
	if sig, _ := a.stops.signal(pid); sig != 0 {
		st.sig = sig
	}
	st.killAt, st.stopping = a.stops.get(pid)
	if !st.stopping {
		st.killAt = time.Now().Add(orphanGrace)
	}
	st.step(time.Now())
	return st
}

// finish waits until no stray of the worker runs, killing them at the
// deadline. It returns how many it left (for a worker being stopped,
// those running at the SIGKILL), and whether poold killed them.
func (st *strayStop) finish() (n int, killed bool) {
	if st == nil {
		return 0, false
	}
	defer func() {
		for _, p := range st.seen {
			if p.fd >= 0 {
				_ = unix.Close(p.fd)
			}
		}
	}()
	giveUp := st.killAt.Add(emptyGrace)
	tick := time.NewTicker(groupPoll)
	defer tick.Stop()
	for retries := 0; ; <-tick.C {
		if !st.step(time.Now()) {
			// One caught in the middle of an exec may be the
			// worker's: look again, a few times.
			if !st.blank || retries == blankRetries {
				break
			}
			retries++
			continue
		}
		if time.Now().After(giveUp) {
			st.a.log.Error("processes a worker left outside its process group did not end after SIGKILL",
				"watcher", st.o.watcher, "pid", st.pid, "wid", st.o.wid)
			break
		}
	}
	if st.stopping {
		return st.killedN, st.killed
	}
	return len(st.seen), len(st.seen) > 0
}

// blankRetries is how many more times finish looks, groupPoll apart, when
// all it finds is a stray with a blank environment (in an exec).
const blankRetries = 3

// step signals the worker's strays that run now; false when none does.
func (st *strayStop) step(now time.Time) bool {
	var mine []stray
	st.blank = false
	for _, s := range st.a.strayScans.get(st.a.strayList) {
		st.blank = st.blank || s.blank
		if s.key != st.o.workerKey || !s.ofWorker(st.o.since) {
			continue
		}
		// One another running worker could own too is left alone
		// (nameStrays names it).
		if since, n := st.a.strays.ownerSince(s); n == 1 && since == st.o.since {
			mine = append(mine, s)
		}
	}
	if len(mine) == 0 {
		return false
	}
	sig := st.sig
	if !now.Before(st.killAt) {
		sig = syscall.SIGKILL
		if !st.killed {
			st.killed, st.killedN = true, len(mine)
		}
	}
	var fresh []int
	for _, s := range mine {
		if st.seen[s.pid] == nil {
			if p := track(s); p != nil { // else ended meanwhile
				st.seen[s.pid] = p
				fresh = append(fresh, s.pid)
			}
		}
	}
	// Named before they are signalled: one that is ending has no
	// command line to show.
	names := describePids(fresh)
	for _, s := range mine {
		if p := st.seen[s.pid]; p != nil && p.sent != sig && p.sent != syscall.SIGKILL {
			p.signal(s.pid, sig)
		}
	}
	if len(fresh) > 0 {
		st.a.log.Info("stopping what a worker left outside its process group (poold's children now, started by the worker: their environment names it)",
			"watcher", st.o.watcher, "pid", st.pid, "wid", st.o.wid, "processes", names,
			"signal", configs.SignalName(sig), "sigkill_in", max(st.killAt.Sub(now), 0).Round(time.Millisecond))
	}
	return true
}

// track takes a pidfd of s, nil if s has ended (or its pid is another
// process's by now).
func track(s stray) *strayProc {
	fd, err := unix.PidfdOpen(s.pid, 0)
	if errors.Is(err, unix.ENOSYS) {
		return &strayProc{fd: -1} // before Linux 5.3
	}
	if err != nil {
		return nil
	}
	if start, err := procinfo.StartTicks(s.pid); err != nil || start != s.start {
		_ = unix.Close(fd)
		return nil
	}
	return &strayProc{fd: fd}
}

// signal sends sig, then SIGCONT unless sig is SIGKILL (a stopped process
// acts on nothing else).
func (p *strayProc) signal(pid int, sig syscall.Signal) {
	p.sent = sig
	send := func(s syscall.Signal) {
		if p.fd >= 0 {
			_ = unix.PidfdSendSignal(p.fd, s, nil, 0)
		} else {
			_ = syscall.Kill(pid, s)
		}
	}
	send(sig)
	if sig != syscall.SIGKILL {
		send(syscall.SIGCONT)
	}
}
