package arbiter

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher"
	"github.com/poold/poold/watcher/cgroup"
	"github.com/poold/poold/watcher/procinfo"
)

// What a worker killed by a signal leaves. A gunicorn master killed by
// kill -9, the OOM killer or a segfault leaves its workers in its cgroup
// with requests in flight; they notice their parent is gone, finish those
// and exit. poold ends them as a stop ends what a stopped worker leaves
// (systemd's KillMode=control-group): the watcher's stop_signal to each,
// then SIGKILL to what is left at its graceful_timeout. Unlike a stop, the
// worker's end reaches the loop at once, so that its slot's next worker
// starts in a cgroup of its own (a new one: the old one still holds them)
// and serves the shared socket while they finish. A worker that exited
// with a status (a program that daemonized) still has what it left killed
// at once: those are no master's workers finishing requests, and its
// next start would only leave more of them.

// leftStop is how the worker that owns it ends what it leaves when it is
// killed by a signal: its watcher's stop_signal and graceful_timeout,
// as they are when it ends (leftstopnow.go).
type leftStop struct {
	watcher string
	sig     syscall.Signal
	grace   time.Duration
}

func leftStopOf(w *watcher.Watcher) leftStop {
	s := w.Spec()
	return leftStop{watcher: w.Name(), sig: s.StopSignal, grace: s.GracefulTimeout}
}

// drains holds the workers whose leftovers are being ended after their
// end was posted: an upgrade waits for them (exitsInFlight), as for the
// leftovers of a stopped worker, and a poold shutting down names them. A
// small deliberately shared leaf.
type drains struct {
	mu  sync.Mutex
	set map[int]drain // worker pid -> its watcher
}

// drain is one being ended: its watcher, and when its graceful_timeout
// ends.
type drain struct {
	watcher string
	until   time.Time
}

func (d *drains) add(pid int, name string, until time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.set == nil {
		d.set = make(map[int]drain)
	}
	d.set[pid] = drain{name, until}
}

func (d *drains) done(pid int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.set, pid)
}

// list names those being ended, sorted.
func (d *drains) list() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for pid, e := range d.set {
		out = append(out, fmt.Sprintf("watcher %q pid %d", e.watcher, pid))
	}
	slices.Sort(out)
	return out
}

// has tells whether pid is a worker whose leftovers are being ended:
// those in its process group are not poold's to stop as it exits
// (endOrphans), before their graceful_timeout.
func (d *drains) has(pid int) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.set[pid]
	return ok
}

// last is when the last graceful_timeout of those being ended ends.
func (d *drains) last() time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	var t time.Time
	for _, e := range d.set {
		if e.until.After(t) {
			t = e.until
		}
	}
	return t
}

// noteDrainsAtExit, as poold exits, says whose leftovers it still waits
// for, and how long at most (their graceful_timeout, then SIGKILL).
func (a *Arbiter) noteDrainsAtExit() {
	l := a.drains.list()
	if len(l) == 0 {
		return
	}
	a.log.Info("waiting for what workers killed by a signal left to end (stop_signal sent; SIGKILL to those left at their graceful_timeout)",
		"workers", strings.Join(l, ", "), "at_most", max(time.Until(a.drains.last()), 0).Round(time.Millisecond))
}

// drainEnded says, in an event, how what o (pid) left ended: left
// processes were sent its stop_signal at began, and killed of them were
// SIGKILLed at its graceful_timeout.
func (a *Arbiter) drainEnded(o strayOwner, pid int, s leftStop, left, killed int, began time.Time) {
	a.bus.Publish(s.watcher, events.KindLeftEnded, map[string]any{
		"process_pid": pid, "process_id": o.wid, "left": left, "killed": killed,
		"graceful_timeout": s.grace.Seconds(), "waited": time.Since(began).Seconds(),
	})
}

// drainsInFlight is exitsInFlight's part for leftovers being ended.
func (a *Arbiter) drainsInFlight() error {
	l := a.drains.list()
	if len(l) == 0 {
		return nil
	}
	return fmt.Errorf("what %d worker(s) killed by a signal left is being stopped (%s: up to their graceful_timeout)",
		len(l), strings.Join(l[:min(len(l), 5)], ", "))
}

// drainStart, in a cleanup slot, sends s.sig to left, what pid left in g
// when a signal ended it, and fills in end: the processes signalled,
// the signal and the grace, and g's counts as they are now (a later OOM
// kill of a leftover is not the worker's end). The rest, drainRest, runs
// once the end is posted.
func (a *Arbiter) drainStart(pid int, g *cgroup.Group, left []int, s leftStop, end *watcher.End) {
	signalLeft(pid, left, s.sig, true)
	end.LeftSignal, end.LeftGrace = s.sig, s.grace
	end.OOM = g.OOMKills()
	end.PidsRefused = g.PidsRefused()
	if hits, ok := g.MemoryLimitHits(); ok && end.OOM > 0 {
		end.OOMAbove = hits == 0
	}
	a.drains.add(pid, s.watcher, time.Now().Add(s.grace))
}

// drainRest waits up to s.grace for g to empty, SIGKILLs what is left
// then, logs how they ended (and what the OOM killer took meanwhile),
// and removes g.
func (a *Arbiter) drainRest(o strayOwner, pid int, g *cgroup.Group, s leftStop, left int) {
	defer a.drains.done(pid)
	began, killed := time.Now(), 0
	defer func() { a.drainEnded(o, pid, s, left, killed, began) }()
	log := a.log.With("watcher", s.watcher, "pid", pid, "cgroup", g.Dir)
	if g.WaitEmpty(s.grace) == nil {
		a.drainEndedInTime(log, pid, g, s) // leftdrainend.go
	} else {
		a.cgroupStep(func() {
			killed = len(procinfo.Running(g.Pids()))
			a.killLeft(pid, g)
		})
		log.Warn("poold killed what a worker killed by a signal left, still running at graceful_timeout",
			"killed", killed, "graceful_timeout", s.grace)
		if err := g.WaitEmpty(emptyGrace); err != nil {
			a.log.Error("a worker's cgroup did not empty; poold will sweep it at its next start", "pid", pid, "cgroup", g.Dir, "error", err)
		}
		a.drainOOM(log, pid, g, s)
	}
	a.cgroupStep(func() {
		if err := g.Remove(); err != nil {
			a.log.Warn("could not remove a worker's cgroup", "pid", pid, "error", err)
		}
	})
}
