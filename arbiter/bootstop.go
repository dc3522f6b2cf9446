package arbiter

import (
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

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
// have set its handlers): with stop_children off those it forked after
// the signal (what ran before is the worker's to stop), with it on those
// that joined the group after the signal. A
// process poold signalled never gets a second stop signal from it (job
// runners read a second TERM as a cold shutdown), and a ready worker's
// stop is never swept: the helpers its SIGTERM handler starts (to
// deregister it, say) finish as before.

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

// bootSweep starts the sweep of pid, a worker that got its stop signal sig
// just now (alone: to itself, not its group), if it was never ready. On
// the loop: it reads who got the signal and hands the rest to a goroutine
// that ends with the stop.
func (a *Arbiter) bootSweep(pid int, sig syscall.Signal, alone bool) {
	switch sig {
	case syscall.SIGKILL, syscall.SIGSTOP, syscall.SIGTSTP, syscall.SIGTTIN, syscall.SIGTTOU, syscall.SIGCONT:
		return
	}
	w := a.owner[pid]
	if w == nil || !w.StoppedBooting(pid) {
		return
	}
	at, stopping := a.stops.get(pid)
	if !stopping {
		return
	}
	g := a.groups[pid]
	sent := []int{pid}
	var before map[int]bool
	if alone {
		// stop_children off: the signal is the worker's alone, and what
		// it ran before is its to stop (a job it has in hand); only what
		// it forks from now on is swept (r64 review2: a runner's job
		// child got poold's TERM).
		before = make(map[int]bool)
		for _, p := range bootMembers(pid, g) {
			before[p] = true
		}
	} else {
		// Those in its process group had it. Read after the signal, so
		// that none that had it gets a second one, and quickly, since
		// one forked meanwhile counts among them and is not swept: its
		// cgroup, else the worker's descendants, not a pass over /proc.
		var tree []int
		if g != nil {
			tree = g.Pids()
		} else {
			tree = descendants(pid) // signals.go
		}
		sent = append(sent, procinfo.InGroup(pid, tree)...)
	}
	a.stops.tracking(pid, sent)
	log := a.log.With("watcher", w.Name(), "pid", pid)
	a.bg.Add(1)
	go func() {
		defer a.bg.Done()
		tick := time.NewTicker(bootSweepEvery)
		defer tick.Stop()
		for {
			select {
			case <-a.runCtx.Done():
				return
			case <-tick.C:
			}
			if now, ok := a.stops.get(pid); !ok || !now.Equal(at) || time.Now().After(at) {
				return // ended, or its deadline's SIGKILL takes over
			}
			a.sweepBooting(log, pid, g, sig, before)
		}
	}()
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

// sweepBooting sends sig to each of pid's processes that poold has not
// signalled, that was not running before its stop (before, with
// stop_children off) and that has lived bootSettled.
func (a *Arbiter) sweepBooting(log hclog.Logger, pid int, g *cgroup.Group, sig syscall.Signal, before map[int]bool) {
	for _, p := range bootMembers(pid, g) {
		if before[p] {
			continue
		}
		if age, err := procinfo.Age(p); err != nil || age < bootSettled || !a.stops.tell(pid, p, false) {
			continue // ended, too young (the next look), or signalled
		}
		// Said first: the process may end of it, and the stop with it.
		log.Info("worker stopped while booting: sent stop_signal to a process of it that had none from poold (a master forking as it is told to stop can leave one without it)",
			"process", p, "signal", configs.SignalName(sig))
		if err := syscall.Kill(p, sig); err == nil {
			_ = syscall.Kill(p, syscall.SIGCONT)
		}
	}
}
