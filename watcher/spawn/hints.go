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

// onSigchld reaps what ended: with hints, those hinted so far, leaving
// the walk for the rest to a backstop; without (or once the last worker
// has gone and the watch with it), by a walk now.
func (s *Spawner) onSigchld() {
	if s.xw != nil {
		s.xw.flush() // a worker too new to be watched may be what ended
	}
	for s.xw != nil {
		select {
		case pid := <-s.xw.hints:
			s.hinted(pid)
		default:
			s.armBackstop()
			return
		}
	}
	s.reapChildren()
}

// hinted reaps pid if it is a worker that has ended.
func (s *Spawner) hinted(pid int) {
	if s.live[pid] != nil {
		s.reap(pid) // false when it has not ended: a stale hint
	}
}

// armBackstop has a walk made backstopDelay from now, unless one is due.
func (s *Spawner) armBackstop() {
	if s.backstopOn {
		return
	}
	s.backstopOn = true
	if s.backstop == nil {
		s.backstop = time.NewTimer(s.backstopDelay)
		return
	}
	s.backstop.Reset(s.backstopDelay)
}

// backstopDue is the backstop timer's channel while it is armed.
func (s *Spawner) backstopDue() <-chan time.Time {
	if !s.backstopOn {
		return nil
	}
	return s.backstop.C
}

// walkBackstop is the backstop's walk.
func (s *Spawner) walkBackstop() {
	s.backstopOn = false
	s.reapChildren()
}

// hintq is the exit watch's hints, nil without one.
func (s *Spawner) hintq() <-chan int {
	if s.xw == nil {
		return nil
	}
	return s.xw.hints
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
// thread and an fd for nothing; the next workers start it again.
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
