package spawn

import (
	"context"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Orphans. A worker's child that outlives it is re-parented to the
// nearest "subreaper" ancestor, or to PID 1. With BecomeSubreaper, that is
// poold: nothing a worker leaves escapes to init, and poold reaps it, so
// it never lingers as a zombie. As PID 1 of a container or pid namespace,
// poold is that ancestor anyway.
//
// A subreaper's orphans go to its main thread. When the spawner runs
// there (poold's binary: RunOnMain), it reaps them with its workers, one
// waitid each (Spawner.ReportOrphans). Otherwise an OrphanReaper does.
//
// Reaping must not take an exit status that belongs to someone else: each
// worker is reaped by its spawner (exact status, see children.go), and
// os/exec reaps the processes it starts (exec health probes). So the
// OrphanReaper never calls wait4(-1). On SIGCHLD (and on a slow tick, as
// a safety net) it asks waitid(P_ALL, WNOHANG|WNOWAIT), which reaps
// nothing, whether any child is a zombie. A worker's is its spawner's,
// which is about to reap it: the reaper looks again at the next signal
// or tick. Any other, and only then, makes it list poold's zombie
// children in /proc and reap, by pid, each one that is neither a worker
// (the spawner registers a worker's pid under the same lock as its fork,
// and unregisters it under the lock as it reaps it), nor a command
// started through StartKept (exec probes and hooks, in process groups of
// their own), nor in poold's own process group (other os/exec children
// stay there; every worker and so every orphan of one is in another).

// reaper is the registry of live workers, shared by the spawners and the
// orphan reaper. Its lock guards kept (kept.go) too.
var reaper = struct {
	mu      sync.Mutex
	workers map[int]bool
}{workers: map[int]bool{}}

// BecomeSubreaper makes poold the reaper of its workers' orphans
// (PR_SET_CHILD_SUBREAPER). Run an OrphanReaper to reap them.
func BecomeSubreaper() error {
	return unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
}

// Orphan is a process poold reaped that was not one of its workers.
type Orphan struct {
	Pid  int
	Exit Exit
}

// OrphanReaper reaps zombie children of poold that are no worker of it.
type OrphanReaper struct {
	// Reaped, if set, is told of each one, on Run's goroutine.
	Reaped func(Orphan)
	// Every is the period of the safety-net sweep; 0: one second.
	Every time.Duration
}

// Run reaps orphans until ctx is done, then returns nil.
func (r *OrphanReaper) Run(ctx context.Context) error {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGCHLD)
	defer signal.Stop(sigs)
	every := r.Every
	if every <= 0 {
		every = time.Second
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		for _, o := range ReapOrphans() {
			if r.Reaped != nil {
				r.Reaped(o)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-sigs:
		case <-tick.C:
		}
	}
}

// ReapOrphans reaps every zombie child of poold that is not a worker and
// not in poold's process group, and returns them.
func ReapOrphans() []Orphan {
	var info unix.Siginfo
	err := unix.Waitid(unix.P_ALL, 0, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
	pid := siginfoPid(&info)
	if err != nil || pid == 0 {
		return nil // no child, or none has ended
	}
	reaper.mu.Lock()
	worker := reaper.workers[pid]
	reaper.mu.Unlock()
	if worker {
		return nil // its spawner's; and a scan of /proc is not cheap
	}
	self, group := os.Getpid(), syscall.Getpgrp()
	var out []Orphan
	for _, pid := range zombieChildren(self) {
		if pid.pgrp == group {
			continue
		}
		beforeReap(pid.pid)
		reaper.mu.Lock()
		if !reaper.workers[pid.pid] && !kept[pid.pid] {
			var ws syscall.WaitStatus
			if n, err := syscall.Wait4(pid.pid, &ws, syscall.WNOHANG, nil); err == nil && n == pid.pid {
				out = append(out, Orphan{Pid: pid.pid, Exit: exitOf(ws)})
			}
		}
		reaper.mu.Unlock()
	}
	return out
}

type procRef struct{ pid, pgrp int }

// zombieChildren lists the children of parent that are zombies, from
// /proc/PID/stat.
func zombieChildren(parent int) []procRef {
	d, err := os.Open("/proc")
	if err != nil {
		return nil
	}
	names, _ := d.Readdirnames(-1)
	d.Close()
	var out []procRef
	for _, name := range names {
		pid, err := strconv.Atoi(name)
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + name + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...; comm may hold anything.
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 3 || f[0] != "Z" {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		pgrp, _ := strconv.Atoi(f[2])
		if ppid == parent {
			out = append(out, procRef{pid, pgrp})
		}
	}
	return out
}

// Registered tells whether pid is a live worker of a spawner, or a
// command started through StartKept and not reaped yet: a child of poold
// that is no orphan.
func Registered(pid int) bool {
	reaper.mu.Lock()
	defer reaper.mu.Unlock()
	return reaper.workers[pid] || kept[pid]
}

// KeepUnregistered keeps of pids, in place, those that are neither a
// live worker of a spawner nor a command started through StartKept (see
// Registered), under one lock for the whole list: of the 10,000 children
// of a poold of 10,000 workers, the few that are something else.
func KeepUnregistered(pids []int) []int {
	reaper.mu.Lock()
	defer reaper.mu.Unlock()
	return slices.DeleteFunc(pids, func(p int) bool { return reaper.workers[p] || kept[p] })
}
