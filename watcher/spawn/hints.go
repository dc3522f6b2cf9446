package spawn

import (
	"fmt"
	"time"
)

// The spawner's side of exit hints (exitwatch.go). All of it runs on
// Run's goroutine.

// watchExit has the exit watch, once there are enough workers to start
// it, watch the worker pid that has just joined s.live.
func (s *Spawner) watchExit(pid int) {
	if s.xw != nil {
		s.xw.add(pid)
		return
	}
	if s.xwTried || len(s.live) < s.xwMin {
		return
	}
	s.xwTried = true // once: where it cannot start, it will not later
	xw, err := startExitWatch(s.pidfdOpen)
	if err != nil {
		s.xwErr = err
		return
	}
	s.xw = xw
	s.hinting.Store(true)
	pids := make([]int, 0, len(s.live))
	for p := range s.live {
		pids = append(pids, p)
	}
	xw.add(pids...)
}

// onSigchld reaps what ended: with the exit watch, each worker its set
// names, leaving the walk for the rest to a backstop; without (or once
// the last worker has gone and the watch with it), by a walk now.
func (s *Spawner) onSigchld() {
	if s.xw != nil {
		s.reapEnded()
	}
	if s.xw != nil {
		s.xw.flush() // the closes, and a worker too new to be watched
		s.armBackstop()
		return
	}
	s.reapChildren()
}

// reapEnded reaps each worker whose pidfd is readable. Reaped pidfds
// stay readable until the thread closes them: it stops at a buffer that
// reaped nothing (the thread's next pass tells the rest: ready).
//
// A full buffer at the first look is a mass exit (poold stopping all its
// workers, which it signals in the order they were started, the order of
// the children list): then a walk reaps them, each found at the list's
// head. Reaped from the set instead, a stop of 10,000 took 3.1-6.4 s
// against 2.3-3.1 s, with about twice the CPU, spent in the kernel's
// cgroup locks as the emptied cgroups went (poold-bench tenk, 4 pairs;
// the cause past that is not pinned down). With the walk: 2.4-3.2 s
// against 2.4-2.8 s for a build that reaps by walks alone (4
// alternating runs).
func (s *Spawner) reapEnded() {
	for first := true; s.xw != nil; first = false {
		pids, reaped := s.xw.ended(), false
		if first && s.xw.full(pids) {
			s.reapChildren()
			return
		}
		for _, pid := range pids {
			if s.live[pid] != nil && s.reap(pid) { // false: this pid's last worker ended, not this one
				reaped = true
			}
		}
		if s.xw == nil || !s.xw.full(pids) || !reaped {
			return
		}
	}
}

// onReady reaps what the exit watch found readable after its last pass
// (a worker that ended before it was watched, or since the last look).
func (s *Spawner) onReady() {
	s.reapEnded()
	if s.xw != nil {
		s.xw.flush()
	}
}

// armBackstop has a walk made backstopDelay from now, unless one is due;
// a SIGCHLD or a start before then puts it off (walkBackstop).
func (s *Spawner) armBackstop() {
	now := time.Now()
	s.busyAt = now
	if s.backstopOn {
		return
	}
	s.backstopOn, s.backstopFirst = true, now
	if s.backstop == nil {
		s.backstop = time.NewTimer(s.backstopDelay)
		return
	}
	s.backstop.Reset(s.backstopDelay)
}

// backstopWait is how long from now the walk waits yet: until delay
// after busy, the spawner's last SIGCHLD or start, but not past span (or
// delay, if longer) after first, the SIGCHLD that armed it.
func backstopWait(first, busy, now time.Time, delay, span time.Duration) time.Duration {
	due := busy.Add(delay)
	if last := first.Add(max(span, delay)); due.After(last) {
		due = last
	}
	return max(due.Sub(now), 0)
}

// backstopDue is the backstop timer's channel while it is armed.
func (s *Spawner) backstopDue() <-chan time.Time {
	if !s.backstopOn {
		return nil
	}
	return s.backstop.C
}

// walkBackstop is the backstop's walk, for what has no pidfd. The workers
// the exit watch names are reaped first, each on its own: a walk reaps
// each child it finds ended and then walks again from the first child, so
// left to it each exit the hints have not reaped yet when the backstop
// comes due (the spawner was busy forking, and the select picked the
// timer) costs a walk of up to all 10,000 children, where one walk finds
// nothing. Stage timestamps of bursts of 100 kill -9s among 10,000: a
// walk that reaped 5 took 28 ms at load ~20; with the spawner made to
// fork before it reaps (an experiment), walks reaped 58-99 of a burst's
// exits and took 0.8-2.4 s at load ~60.
//
// While SIGCHLDs come or starts are served, the walk is put off, up to
// backstopSpan after the SIGCHLD that armed it (see backstopDelay).
func (s *Spawner) walkBackstop() {
	if d := backstopWait(s.backstopFirst, s.busyAt, time.Now(), s.backstopDelay, s.backstopSpan); d > 0 {
		s.backstop.Reset(d)
		return
	}
	s.backstopOn = false
	if s.xw != nil {
		s.reapEnded()
	}
	if s.xw != nil {
		s.xw.flush()
	}
	s.reapChildren()
}

// xwReady is the exit watch's ready channel, nil without one.
func (s *Spawner) xwReady() <-chan struct{} {
	if s.xw == nil {
		return nil
	}
	return s.xw.ready
}

// xwDone is closed when the exit watch has ended on its own; nil without one.
func (s *Spawner) xwDone() <-chan struct{} {
	if s.xw == nil {
		return nil
	}
	return s.xw.done
}

// exitWatchEnded goes back to walking on every SIGCHLD when the exit
// watch has failed (a pidfd refused), says so once, and walks now for
// exits whose hints are lost with it.
func (s *Spawner) exitWatchEnded() {
	err := s.xw.err
	s.stopExitWatch()
	s.xwErr = err
	s.warnf(fmt.Sprintf("exit notification: back to a walk of all %d workers on each exit, which costs more CPU per exit "+
		"(when the error is EMFILE, raise RLIMIT_NOFILE: LimitNOFILE= under systemd)", len(s.live)), err)
	s.reapChildren()
}

// idleExitWatch stops the exit watch once no worker is left, holding a
// thread and two fds for nothing; the next workers start it again.
func (s *Spawner) idleExitWatch() {
	if s.xw != nil {
		s.stopExitWatch()
		s.xwTried = false
	}
}

// stopExitWatch stops the exit watch, if any.
func (s *Spawner) stopExitWatch() {
	if s.xw == nil {
		return
	}
	s.xw.stop()
	s.xw = nil
	s.hinting.Store(false)
	// An armed backstop stays: the walk it is for is still due.
}
