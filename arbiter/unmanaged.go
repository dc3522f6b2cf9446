package arbiter

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/poold/poold/watcher"
)

// Workers that `rm` with nostop (Circus's option) leaves running are no
// longer any watcher's: nothing restarts, scales or reports them. They are
// still poold's children, and would die with it by their parent-death
// signal, so poold stops them when it stops, as their watcher would have:
// SIGTERM to each one's group, SIGKILL after the watcher's
// graceful_timeout (at once on a third stop request), and it waits for
// their exits before it returns. Their exits are reaped as any worker's.

// unmanagedProc is a worker left running by `rm --nostop`.
type unmanagedProc struct {
	watcher string
	grace   time.Duration
	sig     syscall.Signal // the watcher's stop_signal
	alone   bool           // stop_children off: to the worker alone
}

// unmanagedKillMsg is an unmanaged worker's graceful_timeout ending.
type unmanagedKillMsg struct{ pid int }

// leaveRunning records w's workers as unmanaged, before w is forgotten.
func (a *Arbiter) leaveRunning(w *watcher.Watcher) {
	for _, pid := range w.Pids() {
		spec := w.Spec()
		a.unmanaged[pid] = unmanagedProc{watcher: w.Name(), grace: spec.GracefulTimeout, sig: spec.StopSignal, alone: !spec.StopChildren}
	}
}

// stopUnmanaged signals every unmanaged worker: SIGTERM with a SIGKILL
// armed at its grace, or SIGKILL now.
func (a *Arbiter) stopUnmanaged(kill bool) {
	if len(a.unmanaged) == 0 {
		return
	}
	a.log.Info("stopping the workers rm --nostop left running", "workers", len(a.unmanaged), "kill", kill)
	for pid, u := range a.unmanaged {
		if kill || u.grace <= 0 {
			a.killUnmanaged(pid, "")
			continue
		}
		a.stops.set(pid, time.Now().Add(u.grace)) // before it can end of the signal
		// As its watcher stopped it: stop_signal, to the worker alone
		// with stop_children off, then SIGCONT to the group.
		send := (host{a}).Signal
		if u.alone {
			send = (host{a}).SignalProcess
		}
		sig := u.sig
		if sig == 0 {
			sig = syscall.SIGTERM
		}
		if err := send(pid, sig); err != nil {
			a.log.Warn("cannot stop a worker rm --nostop left running", "watcher", u.watcher, "pid", pid, "error", err)
		}
		if sig != syscall.SIGKILL && sig != syscall.SIGCONT {
			_ = (host{a}).Signal(pid, syscall.SIGCONT)
		}
		time.AfterFunc(u.grace, func() { a.post(unmanagedKillMsg{pid}) })
	}
}

// killUnmanaged SIGKILLs pid's group if pid is still an unmanaged worker
// that has not exited, logging why if given.
func (a *Arbiter) killUnmanaged(pid int, why string) {
	u, ok := a.unmanaged[pid]
	if !ok {
		return
	}
	if why != "" {
		a.log.Warn("a worker rm --nostop left running "+why+"; killing its group", "watcher", u.watcher, "pid", pid)
	}
	if err := (host{a}).Signal(pid, syscall.SIGKILL); err != nil {
		a.log.Warn("cannot kill a worker rm --nostop left running", "watcher", u.watcher, "pid", pid, "error", err)
	}
}

// unmanagedBlock refuses an upgrade while workers rm --nostop left run:
// the upgrade state does not carry them, so the new image would neither
// stop them nor know their exits.
func (a *Arbiter) unmanagedBlock() error {
	if len(a.unmanaged) == 0 {
		return nil
	}
	pids := slices.Sorted(maps.Keys(a.unmanaged))
	n := fmt.Sprintf("%d workers", len(pids))
	if len(pids) == 1 {
		n = "1 worker"
	}
	return fmt.Errorf("%s left running by rm --nostop (pids %v) would be lost to the new image; stop them first (kill PID) or restart poold", n, pids)
}

// letGo removes w and leaves its workers running, unmanaged (rm
// --nostop). Whatever waits on w (a waited command, an ordered stop or
// start, a removal) is told at once (watcher.Abandon): w will never
// settle, and a command parked on it would hold every later upgrade.
func (a *Arbiter) letGo(w *watcher.Watcher) {
	a.leaveRunning(w)
	a.forget(w)
	w.Abandon()
}

// letGoOf words the watchers of ws that rm --nostop let go of (letGo)
// before a waited cmd on them was done: the command did not happen to
// them, and their workers run on unmanaged. "" when there is none.
func letGoOf(cmd string, ws []*watcher.Watcher) string {
	var parts []string
	for _, w := range ws {
		if !w.Abandoned() {
			continue
		}
		left := "it had no worker left"
		if pids := w.Pids(); len(pids) > 0 {
			left = fmt.Sprintf("its workers (pids %v) were left as they were, no longer managed (poold stops them only when it stops itself); end them with kill PID", pids)
		}
		parts = append(parts, fmt.Sprintf("watcher %q was removed by rm --nostop before the %s finished: %s", w.Name(), cmd, left))
	}
	return strings.Join(parts, "; ")
}

// managed is ws without the watchers rm --nostop let go of: what a waited
// command's own checks (startFailures, stoppedSince...) look at.
func managed(ws []*watcher.Watcher) []*watcher.Watcher {
	return slices.DeleteFunc(slices.Clone(ws), (*watcher.Watcher).Abandoned)
}
