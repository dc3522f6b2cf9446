package spawn

import (
	"fmt"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Reaping on the spawner's thread (see proc.go for why). Linux keeps the
// children of a process per thread, and waitid with __WNOTHREAD looks
// only at the calling thread's. Every worker is forked from the
// spawner's thread, so that list holds them, and on the main thread
// (RunOnMain) the orphans of workers too: a subreaper's orphans go to its
// main thread. Children that other threads start are on their own lists.
//
// Why not a pidfd per worker, in the netpoller: each one is an fd, and
// every fork copies poold's whole fd table while every exec closes it
// again. With 10,000 workers that is 10,000 fds copied and closed per
// spawn, and starting them all took 2x the time of a plain fork/exec
// loop instead of about 1x (cmd/poold-bench, section tenk). (The exit
// watch of exitwatch.go holds pidfds in a thread's own fd table, which
// no fork copies.)
//
// The state below belongs to the spawner's goroutine: live, unclaimed and
// orphans are read and written only there.

// maxUnclaimed bounds the exits of unknown children kept for an Adopt.
const maxUnclaimed = 1 << 16

// reapChildren reaps every child of the spawner's thread that has ended
// and hands each exit to its Proc. A child that is no live worker is, on
// the main thread, an orphan or a worker handed over by an upgrade not
// adopted yet: reaped, and kept for Adopt until orphans are reported. On
// another thread it is a child an earlier user of the thread started,
// which its own code reaps: left alone, and the live workers are looked
// at one by one instead.
func (s *Spawner) reapChildren() {
	s.flushUnclaimed()
	for {
		var info unix.Siginfo // zeroed: si_pid stays 0 when none has ended
		s.walks.Add(1)
		err := unix.Waitid(unix.P_ALL, 0, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT|unix.WNOTHREAD, nil)
		if err == unix.EINTR {
			continue
		}
		pid := siginfoPid(&info)
		if err != nil || pid == 0 {
			return // ECHILD: no child at all; 0: none has ended
		}
		if s.live[pid] == nil && !s.onMain {
			s.sweep()
			return
		}
		if !s.reap(pid) {
			return
		}
	}
}

// reap reaps pid, which has ended, and passes its exit on; false if it
// could not.
func (s *Spawner) reap(pid int) bool {
	if s.live[pid] == nil {
		beforeReap(pid) // an orphan's, or a worker handed over: see reapwatch.go
	}
	reaper.mu.Lock() // unregistered as it is reaped: see reaper.go
	ex, done, err := waitPid(pid, unix.WNOHANG|unix.WNOTHREAD)
	if done || err != nil {
		delete(reaper.workers, pid)
	}
	reaper.mu.Unlock()
	if !done && err == nil {
		return false
	}
	p := s.live[pid]
	if p == nil {
		if err != nil {
			return false // no exit to report
		}
		s.orphan(Orphan{Pid: pid, Exit: ex})
		return true
	}
	delete(s.live, pid)
	if s.xw != nil {
		s.xw.reaped(pid)
	}
	if len(s.live) == 0 {
		s.idleExitWatch() // before the last exit is reported: none left holds it
	}
	p.ended(ex, err)
	return true
}

// sweep reaps each live worker that has ended, one waitid each.
func (s *Spawner) sweep() {
	for pid := range s.live {
		s.reap(pid)
	}
}

// orphan reports o, or keeps it for Adopt until orphans are reported.
func (s *Spawner) orphan(o Orphan) {
	if s.orphans != nil {
		s.orphans(o)
		return
	}
	if len(s.unclaimed) < maxUnclaimed {
		s.unclaimed[o.Pid] = o.Exit
	}
}

// flushUnclaimed reports the kept exits once orphans are reported: no
// Adopt can claim them any more.
func (s *Spawner) flushUnclaimed() {
	if s.orphans == nil || len(s.unclaimed) == 0 {
		return
	}
	for pid, ex := range s.unclaimed {
		s.orphans(Orphan{Pid: pid, Exit: ex})
	}
	clear(s.unclaimed)
}

// adopt watches pid, a child of this (main) thread handed over by the
// image poold was before an exec.
func (s *Spawner) adopt(pid int) (*Proc, error) {
	p := newProc(pid)
	if ex, ok := s.unclaimed[pid]; ok {
		// It ended during the exec and was reaped before this call.
		delete(s.unclaimed, pid)
		p.ended(ex, nil)
		return p, nil
	}
	if s.live[pid] != nil {
		return nil, fmt.Errorf("adopt pid %d: already a worker of this spawner", pid)
	}
	var info unix.Siginfo
	err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT|unix.WNOTHREAD, nil)
	if err != nil {
		return nil, fmt.Errorf("adopt pid %d: not a child of poold's spawner thread: %w", pid, err)
	}
	reaper.mu.Lock()
	reaper.workers[pid] = true
	reaper.mu.Unlock()
	s.live[pid] = p
	s.watchExit(pid)
	if siginfoPid(&info) == pid {
		s.reap(pid) // it has ended already
	}
	return p, nil
}

// release is the spawner's stop: every live worker gets the SIGKILL that
// its parent-death signal would send once the thread ends (the main
// thread does not end), and is reaped here, within grace. Any left then
// (stuck in the kernel) is waited for by a goroutine of its own, which
// ends with it.
func (s *Spawner) release(sigchld <-chan os.Signal, grace time.Duration) {
	s.stopExitWatch()
	if len(s.live) == 0 {
		return
	}
	if s.deathSignalOnly {
		s.waitElsewhere()
		return
	}
	for pid := range s.live {
		_ = syscall.Kill(pid, syscall.SIGKILL) // not reaped: still its pid
	}
	deadline := time.NewTimer(grace)
	defer deadline.Stop()
	for s.sweep(); len(s.live) > 0; s.sweep() {
		select {
		case <-sigchld:
		case <-deadline.C:
			s.waitElsewhere()
			return
		}
	}
}

// waitElsewhere hands each live worker to a goroutine of its own that
// reaps it from any thread once it ends: a stopped spawner reaps no more.
func (s *Spawner) waitElsewhere() {
	for pid, p := range s.live {
		go func() {
			ex, _, err := waitPid(pid, 0)
			reaper.mu.Lock()
			delete(reaper.workers, pid)
			reaper.mu.Unlock()
			p.ended(ex, err)
		}()
	}
	clear(s.live)
}
