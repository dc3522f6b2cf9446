package arbiter

import (
	"errors"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/poold/poold/watcher/procinfo"
)

// What a worker leaves when it ends. A stop signals the worker's whole
// process group (or, with stop_children off, the worker alone, and what
// it leaves once it has ended), and its descendants often outlive the
// worker by a moment: a shell that runs the app without exec (`bash run.sh`, `npm
// start`, `sh -c 'app; echo done'`) dies of SIGTERM at once while the app
// finishes its requests. Those get the rest of the worker's
// graceful_timeout, as systemd's default KillMode=control-group gives
// every process of a unit; at that deadline what is left is SIGKILLed
// (the watcher's kill timer, and here again as a backstop), and the
// worker counts as gone, its slot free and its port released, only
// once nothing of it is left. A worker that exited on its own, not being
// stopped, has what it left killed at once (KillMode=mixed): a program
// that daemonized. One killed by a signal (a master's kill -9 or OOM
// kill) has what it left stopped as a stop would, while its slot's next
// worker starts (leftdrain.go; leftgroup.go with process groups only).
// With a cgroup per worker "what it left" is its cgroup; with process
// groups only, what is still in its process group.

// stopDeadlines holds, for each worker being stopped, when its graceful
// timeout ends: the loop sets it as it arms the kill, the goroutine that
// watches the worker's end reads it. A small deliberately shared leaf.
type stopDeadlines struct {
	mu     sync.Mutex
	at     map[int]time.Time
	sig    map[int]syscall.Signal // the stop signal sent to each
	alone  map[int]bool           // sent to the worker alone (stop_children off)
	killed map[int]int            // what each left running at poold's first SIGKILL
	told   map[int]map[int]bool   // of a worker stopped while booting, the processes poold sent the stop signal (bootstop.go)
}

func (s *stopDeadlines) set(pid int, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.at == nil {
		s.at = make(map[int]time.Time)
	}
	s.at[pid] = at
}

// get says when pid's graceful timeout ends, if pid is being stopped.
func (s *stopDeadlines) get(pid int) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	at, ok := s.at[pid]
	return at, ok
}

func (s *stopDeadlines) drop(pid int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.at, pid)
	delete(s.sig, pid)
	delete(s.alone, pid)
	delete(s.killed, pid)
	delete(s.told, pid)
}

// killing records, as poold first SIGKILLs what pid, a worker being
// stopped, left at its deadline, how many of those were still running:
// the exit reason's count. Once killed they can no longer be told from
// what the stop signal itself ended.
func (s *stopDeadlines) killing(pid int, left func() int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, stopping := s.at[pid]; !stopping {
		return
	}
	if _, ok := s.killed[pid]; ok {
		return
	}
	if s.killed == nil {
		s.killed = make(map[int]int)
	}
	s.killed[pid] = left()
}

// killedLeft is the count killing recorded for pid, if any.
func (s *stopDeadlines) killedLeft(pid int) (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.killed[pid]
	return n, ok
}

// signalled records the stop signal sent to pid, a worker being stopped,
// and whether it went to the worker alone rather than to its group.
// It says whether sig is that stop signal (the first since its stop).
func (s *stopDeadlines) signalled(pid int, sig syscall.Signal, alone bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, stopping := s.at[pid]; !stopping {
		return false
	}
	if s.sig == nil {
		s.sig = make(map[int]syscall.Signal)
		s.alone = make(map[int]bool)
	}
	if _, ok := s.sig[pid]; ok { // the stop signal, not the SIGCONT after it
		return false
	}
	s.sig[pid] = sig
	s.alone[pid] = alone
	return true
}

// tracking makes s record which of pid's processes poold sends the stop
// signal (tell, untold), starting with those in sent: a worker stopped
// while booting, whose late processes get it too.
func (s *stopDeadlines) tracking(pid int, sent []int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.told == nil {
		s.told = make(map[int]map[int]bool)
	}
	set := make(map[int]bool, len(sent))
	for _, p := range sent {
		set[p] = true
	}
	s.told[pid] = set
}

// tell records that poold sends p, a process of pid, the stop signal, and
// says whether it is the first time (false: leave p alone); untracked is
// the answer when pid's are not tracked.
func (s *stopDeadlines) tell(pid, p int, untracked bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	set := s.told[pid]
	if set == nil {
		return untracked
	}
	if set[p] {
		return false
	}
	set[p] = true
	return true
}

// wasTold says whether poold has sent p, a process of pid, the stop
// signal (tell), without recording anything.
func (s *stopDeadlines) wasTold(pid, p int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.told[pid][p]
}

// untold keeps of pids, processes pid left, those poold has not sent the
// stop signal yet, and records that it does.
func (s *stopDeadlines) untold(pid int, pids []int) []int {
	return slices.DeleteFunc(slices.Clone(pids), func(p int) bool { return !s.tell(pid, p, true) })
}

// signal is the stop signal sent to pid, 0 if none, and whether it went
// to the worker alone.
func (s *stopDeadlines) signal(pid int) (syscall.Signal, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sig[pid], s.alone[pid]
}

// signalLeft passes a stopped worker's stop signal on to pids, what it
// left when it ended: those it did not reach. To the ones that left its
// process group (a setsid daemon) when it went to the group: systemd's
// KillMode=control-group sends it to every process of a unit, and those
// still in the group had it already (a second one makes some servers,
// uvicorn, a Go server with a double-signal rule, drop their requests).
// To all of them when it went to the worker alone (stop_children off): a
// master that ended without stopping its children, or a shell wrapper,
// leaves them to finish as the worker could, in the rest of its grace.
func signalLeft(pid int, pids []int, sig syscall.Signal, alone bool) {
	if sig == 0 {
		return
	}
	for _, p := range pids {
		if g, err := syscall.Getpgid(p); err == nil && (alone || g != pid) {
			_ = syscall.Kill(p, sig)
			if sig != syscall.SIGKILL {
				_ = syscall.Kill(p, syscall.SIGCONT)
			}
		}
	}
}

// groupPoll is how often the end of a process group is looked for while
// a stopped worker's leftovers finish (no cgroup, so no event says so).
const groupPoll = 50 * time.Millisecond

// groupEnded handles what pid, a worker without a cgroup reaped just now,
// left in its process group: it waits for them up to the stop's deadline
// when the worker was being stopped, and kills them otherwise or then. It
// returns how many it left running (the count at poold's kill when
// there was one, see leftAtKill), and whether it killed them.
func (a *Arbiter) groupEnded(pid int) (left int, killed bool) {
	if pids := groupLeft(pid); len(pids) > 0 {
		left = len(procinfo.LeftRunning(pids))
		if sig, alone := a.stops.signal(pid); alone {
			signalLeft(pid, a.stops.untold(pid, pids), sig, true)
		}
		if until, stopping := a.stops.get(pid); !stopping || !waitGroup(pid, time.Until(until)) {
			a.stops.killing(pid, func() int { return len(procinfo.Running(groupLeft(pid))) })
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			if !waitGroup(pid, emptyGrace) {
				a.log.Error("what a worker left in its process group did not end after SIGKILL", "pid", pid, "pids", groupLeft(pid))
			}
			killed = true
		}
	}
	if n, ok := a.stops.killedLeft(pid); ok {
		return n, n > 0
	}
	return left, killed
}

// leftAtKill counts what a stopped worker left running as the watcher
// SIGKILLs it at its deadline, the worker itself aside. When the worker
// has ended already (a zombie, or reaped), its end, not yet handled, would
// otherwise count them only once they had died of the kill. When it has
// not, it may still end of its stop signal: a fatal signal seals how a
// process ends as it is sent, and a worker not scheduled since then (a
// shell wrapper on a loaded host) dies of it only with or after the kill.
// Its exit then says the stop signal, and the app it left, which poold
// killed at the deadline, went uncounted: "killed by signal TERM", not
// graceful_timeout. A worker that dies of the kill itself is "killed by
// poold after graceful_timeout" whatever this count says.
func (a *Arbiter) leftAtKill(pid int) {
	if _, stopping := a.stops.get(pid); !stopping {
		return
	}
	a.stops.killing(pid, func() int {
		var pids []int
		if g := a.groups[pid]; g != nil {
			pids = g.Pids()
		} else {
			// Not groupLeft: the worker, a zombie still, holds its pid.
			pids = groupMembers(pid)
		}
		return len(procinfo.Running(slices.DeleteFunc(pids, func(p int) bool { return p == pid })))
	})
}

// groupAlive tells whether the process group of pid, a worker reaped
// already, still has a live process (a zombie waiting for a parent that
// is not poold, init say, counts as gone). While the group has one, no
// process can be given pid as its own; so when /proc/<pid> exists, the
// number was taken again after the group ended, and that new process's
// group is not the worker's.
func groupAlive(pid int) bool { return len(groupLeft(pid)) > 0 }

// groupLeft lists the live processes of pid's process group (groupAlive).
func groupLeft(pid int) []int {
	if err := syscall.Kill(-pid, 0); errors.Is(err, syscall.ESRCH) {
		return nil // the cheap answer, for nearly every worker's end
	}
	if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
		return nil
	}
	return groupMembers(pid)
}

// waitGroup polls until pid's process group has ended, for at most d;
// false if it has not.
func waitGroup(pid int, d time.Duration) bool {
	deadline := time.NewTimer(max(d, 0))
	defer deadline.Stop()
	tick := time.NewTicker(groupPoll)
	defer tick.Stop()
	for groupAlive(pid) {
		select {
		case <-tick.C:
		case <-deadline.C:
			return !groupAlive(pid)
		}
	}
	return true
}

// groupWalks counts groupMembers' passes over /proc, for tests that a
// worker's end costs none when its group has ended.
var groupWalks atomic.Int64

// groupMembers lists the live processes of process group pgid with a
// pass over every process in /proc (procinfo.GroupMembers): O(all
// processes), so only for a group known to have members.
func groupMembers(pgid int) []int {
	groupWalks.Add(1)
	return procinfo.GroupMembers(pgid)
}
