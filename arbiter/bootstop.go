package arbiter

import (
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/cgroup"
	"github.com/poold/poold/watcher/procinfo"
)

// The boot sweep: what a worker stopped while it booted forks around its
// stop signal. poold sends the stop signal once, to the worker (or its
// process group); a master that is forking its own workers at that moment
// can leave one of them without it. gunicorn 20.1 is the case met: a
// worker it forks keeps the master's signal handlers until its own
// init_signals runs, so the master's SIGTERM that reaches it in that
// window only queues a signal in the worker's copy of the master, and is
// lost; a worker forked after poold's group signal never had poold's. The
// master then waits its --graceful-timeout (30 s) for that worker and
// SIGKILLs it, and every waited command behind the stop answers 30 s late.
//
// So for a worker that was never ready when its stop began (its processes
// were booting, with no request or job in hand), poold looks at its
// processes (its cgroup, else its process group) every bootSweepEvery
// until it has ended, and sends stop_signal, once, to each process that
// it had not signalled and that has lived bootSettled (long enough to
// have set its handlers): with stop_children off its own children that
// it forked after the signal (what ran before is the worker's to stop,
// and so is all that descends from it: a job in hand and the steps the
// job runs as it finishes), with it on those that joined the group after
// the signal (told from those there at the signal by the kernel's order
// of pids: hadSignal). A process poold signalled never gets a second stop
// signal from it (job runners read a second TERM as a cold shutdown), and a
// ready worker's stop is never swept: the helpers its SIGTERM handler
// starts (to deregister it, say) finish as before. Each process is held
// by a pidfd and proven the one read (the worker's, and old enough)
// before it is signalled, so that a pid given anew is never hit.

const (
	// bootSweepEvery is how often a booting worker's processes are looked at
	// while it stops.
	bootSweepEvery = 250 * time.Millisecond
	// bootSettled is the age a process must reach before the sweep signals
	// it, so that it has set its own handlers and does not lose the signal
	// as its parent's: a gunicorn worker forked on a loaded 2-core machine
	// (traced) did so 350 ms after its fork.
	bootSettled = 500 * time.Millisecond
)

// bootSweeper is the sweep of one worker stopped while it booted.
type bootSweeper struct {
	a   *Arbiter
	pid int
	// wfd is a pidfd of the worker: while it is not reaped, pid (the
	// parent a process of it names, the number of its process group) is
	// its number.
	wfd int
	g   *cgroup.Group // its cgroup; nil: its process group
	sig syscall.Signal
	at  time.Time // its stop's deadline: the sweep ends when it changes
	// alone: the signal goes to the worker alone (stop_children off),
	// not to its process group.
	alone bool
	// before holds the processes the worker had just before its stop
	// signal went out, by their start (clock ticks). Alone, they and what
	// descends from them are its to stop; with its group, they had it.
	before map[int]uint64
	// mark is the last pid the kernel gave, read just before the group's
	// signal (marked: it could be read): hadSignal.
	mark   int
	marked bool
}

// bootSweepFor readies the sweep of pid, a worker whose stop signal sig
// is about to go out (alone: to it, not to its group), if it was never
// ready; nil if not. On the loop, before the signal: what the worker has
// then is what ran before it (read after the signal, a process it forked
// in between would count among them, and be left unswept to hold the
// stop for graceful_timeout); with stop_children on, the last pid given
// then marks the signal too (hadSignal). Start it once the signal is sent
// (run), or drop it.
func (a *Arbiter) bootSweepFor(pid int, sig syscall.Signal, alone bool) *bootSweeper {
	switch sig {
	case syscall.SIGKILL, syscall.SIGSTOP, syscall.SIGTSTP, syscall.SIGTTIN, syscall.SIGTTOU, syscall.SIGCONT:
		return nil
	}
	w := a.owner[pid]
	if w == nil || !w.StoppedBooting(pid) {
		return nil
	}
	at, stopping := a.stops.get(pid)
	if !stopping {
		return nil
	}
	wfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return nil // ENOSYS among them: no process could be proven its
	}
	s := &bootSweeper{a: a, pid: pid, wfd: wfd, g: a.groups[pid], sig: sig, at: at, alone: alone}
	s.before = make(map[int]uint64)
	for _, p := range bootMembers(pid, s.g) {
		if m, err := procinfo.MemberOf(p); err == nil {
			s.before[p] = m.Start
		}
	}
	if !alone {
		// Last, the nearest to the signal: what took a pid after it was
		// forked at best as the signal went out (see hadSignal).
		s.mark, err = procinfo.LastPid()
		s.marked = err == nil
	}
	return s
}

// drop lets go of a sweep that will not run (the signal failed).
func (s *bootSweeper) drop() {
	if s != nil {
		_ = unix.Close(s.wfd)
	}
}

// run starts the sweep, on the loop, just after the stop signal went
// out; a nil s does nothing. It reads who got the signal and hands the
// rest to a goroutine that ends with the stop.
func (s *bootSweeper) run() {
	if s == nil {
		return
	}
	a := s.a
	if a.afterBootStopSignal != nil {
		a.afterBootStopSignal(s.pid)
	}
	sent := []int{s.pid}
	if !s.alone {
		sent = append(sent, s.hadSignal()...)
	}
	a.stops.tracking(s.pid, sent)
	log := a.log.With("watcher", a.owner[s.pid].Name(), "pid", s.pid)
	a.bg.Add(1)
	go func() {
		defer a.bg.Done()
		defer s.drop()
		tick := time.NewTicker(bootSweepEvery)
		defer tick.Stop()
		for {
			select {
			case <-a.runCtx.Done():
				return
			case <-tick.C:
			}
			if now, ok := a.stops.get(s.pid); !ok || !now.Equal(s.at) || time.Now().After(s.at) {
				return // ended, or its deadline's SIGKILL takes over
			}
			if unix.PidfdSendSignal(s.wfd, 0, nil, 0) != nil {
				return // reaped: its pid may be another's now
			}
			s.sweep(log)
		}
	}()
}

// hadSignal lists the processes of the worker's process group that had
// its stop signal, read after it went out: its cgroup's, else the
// worker's descendants (not a pass over /proc). The group then also holds
// what its processes forked since, which had none: a master whose TERM
// handler forks, before poold's loop reads the group. These are told
// apart by the order in which the kernel gives pids: a fork that took its
// pid after the mark (LastPid, read just before the signal) and that was
// not there before it is left out, to be swept once settled. One that
// took its pid before the mark had the signal: the kernel hands a group's
// signal that comes while a fork runs to the child too, and one that was
// in the group at the signal had it. What remains unsure is a fork that
// ran across the signal itself, between the mark and the kill (some
// microseconds): its child had the signal as it was made, and still gets
// the sweep's once settled. Sent then, while the child ran its parent's
// handlers (a gunicorn worker before its init_signals), the first was
// likely lost, so the second is not one its own handlers see twice.
// Without the mark (no /proc/sys), every process in the group counts as
// signalled, as poold did before it read one.
func (s *bootSweeper) hadSignal() []int {
	var tree []int
	if s.g != nil {
		tree = s.g.Pids()
	} else {
		tree = descendants(s.pid) // signals.go
	}
	members := procinfo.InGroup(s.pid, tree)
	now, err := procinfo.LastPid()
	if !s.marked || err != nil {
		return members
	}
	had := members[:0]
	for _, p := range members {
		if !s.forkedSince(p, now) {
			had = append(had, p)
		}
	}
	return had
}

// forkedSince reports whether p took its pid after the mark, now being a
// LastPid read after p was listed: and was not there before it (a process
// alive from before whose number the cursor passed over since).
func (s *bootSweeper) forkedSince(p, now int) bool {
	if !procinfo.GivenAfter(p, s.mark, now) {
		return false
	}
	start, was := s.before[p]
	if !was {
		return true
	}
	st, err := procinfo.StartTicks(p)
	return err == nil && st != start
}

// bootMembers lists pid's processes: its cgroup's, else its descendants
// in its process group. Not a pass over the whole of /proc, which each
// booting worker's sweep would make four times a second (a reload of a
// thousand booting workers overtaken by another): the worker, a master
// that waits for what it forks, is alive while the sweep runs.
func bootMembers(pid int, g *cgroup.Group) []int {
	if g != nil {
		return g.Pids()
	}
	return procinfo.InGroup(pid, descendants(pid))
}

// sweep sends the stop signal to each of the worker's processes that is
// due one (due) and that poold has not signalled, each held by a pidfd
// proven its (take).
func (s *bootSweeper) sweep(log hclog.Logger) {
	for _, p := range bootMembers(s.pid, s.g) {
		m, err := procinfo.MemberOf(p)
		if err != nil || !s.due(p, m) || s.a.stops.wasTold(s.pid, p) {
			continue // ended, not one to signal (yet: too young), or signalled
		}
		fd, ok := s.take(p, m)
		if !ok || !s.a.stops.tell(s.pid, p, false) {
			if ok {
				_ = unix.Close(fd)
			}
			continue
		}
		// Said first: the process may end of it, and the stop with it.
		log.Info("worker stopped while booting: sent stop_signal to a process of it that had none from poold (a master forking as it is told to stop can leave one without it)",
			"process", p, "signal", configs.SignalName(s.sig))
		if err := unix.PidfdSendSignal(fd, s.sig, nil, 0); err == nil {
			_ = unix.PidfdSendSignal(fd, syscall.SIGCONT, nil, 0)
		}
		_ = unix.Close(fd)
	}
}

// due says whether p, a process of the worker that read as m, is one the
// sweep signals: it has lived bootSettled, is in the worker's process
// group (without a cgroup, where the listing may be the descendants of
// a reused pid), and with stop_children off is a child of the worker
// itself that it did not have at its stop (not a job it had, nor what
// that job runs).
func (s *bootSweeper) due(p int, m procinfo.Member) bool {
	if s.alone {
		if m.PPid != s.pid {
			return false
		}
		if start, had := s.before[p]; had && start == m.Start {
			return false
		}
	}
	if s.g == nil && m.Pgrp != s.pid {
		return false
	}
	return procinfo.AgeOf(m.Start) >= bootSettled
}

// take opens a pidfd of p and proves it the process read as m: read again
// after the open it is still m and in the worker's cgroup, and both it
// and the worker are alive (the worker unreaped) after the reads, so the
// reads were theirs.
func (s *bootSweeper) take(p int, m procinfo.Member) (fd int, ok bool) {
	fd, err := unix.PidfdOpen(p, 0)
	if err != nil {
		return -1, false
	}
	again, err := procinfo.MemberOf(p)
	ok = err == nil && again == m && (s.g == nil || s.g.Left(p) == "") &&
		unix.PidfdSendSignal(fd, 0, nil, 0) == nil &&
		unix.PidfdSendSignal(s.wfd, 0, nil, 0) == nil
	if !ok {
		_ = unix.Close(fd)
		return -1, false
	}
	return fd, true
}
