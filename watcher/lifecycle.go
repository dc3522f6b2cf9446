package watcher

import (
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
)

// Start starts the workers of a stopped watcher. On a running one it
// releases paused and failed slots: starting is the user saying "try
// again". A Start while the watcher is stopping waits for the stop to
// finish, so two generations of workers never run at once.
func (w *Watcher) Start() {
	if w.abandoned {
		return
	}
	defer w.settle()
	w.start()
}

func (w *Watcher) start() {
	w.started = true
	w.ranOut = false
	switch w.status {
	case Active, Starting:
		w.clearHolds(false)
		return
	case Stopping:
		w.startAfter = true
		return
	}
	if w.afterStop != 0 {
		w.startAfter = true // the stop is done once after_stop is
		return
	}
	w.reloadErr, w.startErr = nil, nil
	w.clearHolds(true)
	if w.gateStart() {
		return
	}
	w.begin()
}

// begin starts a stopped watcher's workers (once before_start said yes).
func (w *Watcher) begin() {
	w.status = Starting
	w.announce.start = true // published once its workers are spawned, as circusd
	w.armHealth()
}

// Resting reports whether the watcher is stopped, or stopping, with no
// Start queued behind the stop and no failed start to report: a stop that
// was asked for, or every worker ended as respawn = false or
// no_respawn_exit_codes say. Starts queued by the caller (start jobs
// waiting on a dependency, a restart) are the caller's to check.
func (w *Watcher) Resting() bool {
	if w.status != Stopped && w.status != Stopping {
		return false
	}
	return !w.startAfter && w.startErr == nil
}

// Started reports whether a Start has run the watcher since poold began
// (or the image that handed it over did): a watcher with autostart =
// false that never ran is at rest by its config, and readiness leaves it
// out; once started it counts as any watcher.
func (w *Watcher) Started() bool { return w.started }

// Stop gracefully stops every worker: stop signal to each process group,
// then SIGKILL at the graceful timeout. It cancels a Start queued behind
// an earlier stop, forgets why the last start did not happen, and, as
// Start does, forgets the slots left empty as respawn = false says
// (failed ones too).
func (w *Watcher) Stop() {
	if w.abandoned {
		return
	}
	defer w.settle()
	w.stop(false)
}

// Kill sends SIGKILL to every worker's process group at once (second
// SIGTERM to poold, or the kill command without grace).
func (w *Watcher) Kill() {
	if w.abandoned {
		return
	}
	defer w.settle()
	w.stop(true)
}

func (w *Watcher) stop(kill bool) {
	// A stop puts the watcher at rest on purpose: a start that did not
	// happen (a hook, a dependency down) no longer holds readiness back.
	w.startAfter, w.startErr = false, nil
	w.ranOut = false
	w.afterStart = false
	w.afterStartGen++
	w.announce = announcements{}
	if w.status == Stopped && len(w.procs) == 0 {
		// A one-shot whose workers ended (respawn = false): the stop
		// puts it at rest on purpose, as it does a running watcher, so
		// a failure it keeps no longer holds readiness back.
		w.clearHolds(true)
		return
	}
	if w.gate != 0 && w.status == Stopping && !kill {
		return // before_stop runs; the stop goes on after it
	}
	if !kill && w.gateStop() {
		return
	}
	if w.gate != 0 {
		w.dropGate("the watcher stops without waiting for it")
	}
	w.status = Stopping
	w.clearHolds(true)
	w.endRoll(nil)
	w.stopWorkers(kill)
}

// stopWorkers signals every worker (SIGKILL when kill), oldest first
// (byAge), then completes the stop if none is left.
func (w *Watcher) stopWorkers(kill bool) {
	for _, p := range w.byAge() {
		// circusd reaps, with a reap event, the workers its stop kills,
		// not one a decr or reload was already stopping.
		p.byStop = p.byStop || p.State != ProcStopping
		if kill {
			w.setState(p, ProcStopping)
			w.signal(p, syscall.SIGKILL)
		} else {
			w.retire(p)
		}
	}
	w.finishStop()
}

// finishStop completes a stop once the last worker is gone and its reap
// hooks have ended, then runs a Start that was waiting for it.
func (w *Watcher) finishStop() {
	if w.status != Stopping || len(w.procs) > 0 || w.gate != 0 || w.reapHooksRun() {
		return
	}
	w.status = Stopped
	w.health++
	if w.spec.Elastic() { // the next start begins again from the start
		if initial := w.sizing().InitialSize(); w.spec.NumProcesses != initial {
			why := fmt.Sprintf("stopped: the next start begins at the configured %d", initial)
			if w.spec.OnDemand {
				why = fmt.Sprintf("stopped: the next start is cold (0 until a connection, then %d)", w.sizing().WakeSize())
			}
			w.resize(initial, why)
		}
		w.scaler = scaler{}
	}
	w.host.Publish(w.spec.Name, events.KindStop, nil)
	// As in Circus, whose stop returns once after_stop has, and as
	// systemd's ExecStopPost=: the stop is done once after_stop is, so a
	// start queued behind it (restart, a non-graceful reload), the next
	// watcher of an ordered stop and a waited stop all wait for it.
	var gen uint64
	if w.spec.Hooks["after_stop"] != "" {
		// An ordered stop (quit, a dependency's stop) waits for it: say so.
		w.log.Info("after_stop hook runs; the stop is done once it ends", "hook_timeout", w.spec.HookTimeout)
	}
	if w.hook("after_stop", 0, 0, nil, func(error) {
		if w.afterStop == gen {
			w.afterStop = 0
			w.startQueued()
		}
	}) {
		gen = w.seq
		w.afterStop = gen
		return
	}
	w.startQueued()
}

// startQueued runs the Start that waited for the stop to finish.
func (w *Watcher) startQueued() {
	if w.startAfter {
		w.startAfter = false
		w.start()
	}
}

// SetTarget changes the number of workers; extra ones are retired
// gracefully, the oldest first (as circusd), starting ones before them.
// An elastic pool moves within its bounds (a scale event says so) and
// scales on from there; a growth counts idle_timeout from itself, not
// from the last connection (incr of an idle on_demand pool was undone
// by idle_timeout 0.1 s later).
func (w *Watcher) SetTarget(n int) {
	defer w.settle()
	n = max(n, 0)
	if w.Elastic() {
		if n = w.Clamp(n); n != w.spec.NumProcesses {
			if n > w.spec.NumProcesses {
				w.scaler.grown(w.host.Now())
			}
			w.resize(n, "manual: numprocesses set by a command")
		}
		return
	}
	w.spec.NumProcesses = n
}

// Reload replaces every worker. Graceful: a rolling replacement in batches
// of max_surge (sequential: one at a time), each batch proven ready before
// as many old workers stop; if a new worker fails, the reload stops and the
// old workers keep serving. Not graceful: stop all, then start. With
// send_hup the workers get SIGHUP instead and reload themselves.
//
// Events as circusd publishes them: a graceful reload publishes reload
// once the old workers are replaced (after the new workers' spawn and the
// old ones' kill), one of a stopped watcher after its start, one with
// send_hup after the signals; a reload that is not graceful is a stop and
// a start (no reload event). The reload event carries poold's "began"
// (unix seconds): when the reload was asked for.
func (w *Watcher) Reload(graceful, sequential bool) {
	defer w.settle()
	began := w.host.Now()
	if w.status != Active && w.status != Starting {
		w.start()
		w.announce.reload, w.announce.began = true, began
		return
	}
	w.clearHolds(false)
	switch {
	case w.spec.SendHUP:
		for _, p := range w.procs {
			if p.State != ProcStopping {
				_ = w.host.SignalProcess(p.Pid, syscall.SIGHUP)
			}
		}
		w.publishReload(began)
	case !graceful:
		w.stop(false)
		w.startAfter = w.status == Stopping
		if w.status == Stopped {
			w.start()
		}
	default:
		if !sequential {
			// As circusd's graceful reload, which spawns numprocesses
			// (its send_hup and sequential ones replace the running).
			w.clearExited()
		}
		prevCred := w.cred // each start looks the user up again (procSpec)
		w.beginRoll(w.spec, w.socks, prevCred)
		w.roll.announce, w.roll.began = true, began
		if sequential {
			w.roll.surge = 1
		}
	}
}

// refreshCred reads the watcher's user and groups again, as systemd and
// supervisord do at each start: a new worker gets a group its user
// joined since (usermod -aG). A user or group given by name that no
// longer resolves is an error for the start (the watcher keeps the ids
// it had for a rollback; a number is taken as it is). The lookup is
// cheap: the user database is parsed again only when its files change;
// a name only NSS knows is answered from what getent said less than 30 s
// ago, else the error wraps configs.ErrNSSPending and the start waits for
// getent off the loop (gateLookup).
func (w *Watcher) refreshCred() error {
	cred, err := w.spec.CredentialAtHand()
	if errors.Is(err, configs.ErrNSSPending) {
		return err
	}
	if err != nil {
		return fmt.Errorf("%w (the watcher's user or group is gone since it started: create it again, or set uid/gid to an existing one and reload)", err)
	}
	w.cred = cred
	return nil
}

// Update replaces the spec (config reload, set). A change of the number of
// processes alone scales; a change of how workers start rolls them over
// gracefully when the watcher runs (see Changes); other changes apply to
// the next decision.
func (w *Watcher) Update(spec configs.Watcher, socks Sockets) error {
	old, oldSocks, oldCred := w.spec, w.socks, w.cred
	// The bounds and the start size are the given numprocesses' (conf),
	// read before it is replaced by the size in force.
	initial, conf := spec.InitialSize(), spec.NumProcesses
	lo, hi := spec.Bounds()
	clamped := false
	if spec.Elastic() {
		// The size of an elastic pool is poold's: the file's numprocesses
		// is only where a start begins. set numprocesses moves it
		// (SetTarget); new bounds move it into them, with a scale event.
		if w.running() {
			spec.NumProcesses = spec.Clamp(old.NumProcesses)
			clamped = spec.NumProcesses != old.NumProcesses
		} else {
			spec.NumProcesses = initial
		}
	}
	if err := w.setSpec(spec, socks); err != nil {
		return err
	}
	w.conf = conf
	w.noteStopsKeepGrace(old.GracefulTimeout)
	if spec.Elastic() && !old.Elastic() {
		// What the scaler remembers is from before the pool was fixed:
		// its idle clock starts again now, not from the last connection
		// it saw then.
		w.scaler = scaler{}
	}
	if clamped {
		w.spec.NumProcesses = old.NumProcesses
		w.resize(spec.NumProcesses, fmt.Sprintf("bounds changed: min_workers %d, max_workers %d", lo, hi))
	}
	defer w.settle()
	w.reloadErr = nil // a new spec: an older rollback no longer applies
	w.host.Publish(w.spec.Name, events.KindUpdated, nil)
	if w.status != Active && w.status != Starting {
		return nil
	}
	ch := Compare(old, spec)
	if ch.Restart || !SameFiles(oldSocks.Files, socks.Files) {
		w.clearHolds(false)
		w.beginRoll(old, oldSocks, oldCred)
		// Its end is announced as a reload's: a subscriber learns that
		// the new spec serves (circusd restarts such a watcher: stop,
		// start).
		w.roll.announce, w.roll.began = true, w.host.Now()
	}
	if w.roll != nil && spec.NumProcesses != old.NumProcesses {
		w.roll.target = w.spec.NumProcesses
	}
	if ch.Health {
		w.armHealth()
	}
	if spec.MaxAge != old.MaxAge || spec.MaxAgeVariance != old.MaxAgeVariance {
		// As Circus's: the running workers are held to the new max_age.
		now := w.host.Now()
		for _, p := range w.procs {
			if p.State == ProcReady && !p.Recycle {
				w.armMaxAge(p, now.Sub(p.Started))
			}
		}
	}
	return nil
}

// KillProcess stops one worker (grace < 0: configured timeout; 0: SIGKILL
// at once). Its replacement starts at once in a free wid.
func (w *Watcher) KillProcess(pid int, sig syscall.Signal, grace time.Duration) error {
	p, ok := w.procs[pid]
	if !ok {
		return fmt.Errorf("watcher %q has no process with pid %d", w.spec.Name, pid)
	}
	defer w.settle()
	if w.gate != 0 && w.status == Stopping {
		// A kill while before_stop holds a stop: the stop goes on without
		// the hook, for the other workers too.
		w.dropGate("a kill ends the stop it held")
		defer w.stopWorkers(false)
	}
	if grace < 0 {
		grace = w.spec.GracefulTimeout
	}
	if grace == 0 {
		sig = syscall.SIGKILL
	}
	if p.State != ProcStopping && !p.Recycle {
		w.owe(p.Restarts) // its replacement carries on its count: a kill asked for is no restart
	}
	w.toStopping(p)
	w.armKill(p, grace) // first: the host learns the deadline before p can end of the signal
	w.stopSignal(p, sig)
	return nil
}

// Signal sends sig to one worker's process group, or to all when pid is 0.
func (w *Watcher) Signal(pid int, sig syscall.Signal) error {
	if pid != 0 {
		p, ok := w.procs[pid]
		if !ok {
			return fmt.Errorf("watcher %q has no process with pid %d", w.spec.Name, pid)
		}
		p.sentKill = p.sentKill || sig == syscall.SIGKILL
		return w.host.Signal(p.Pid, sig)
	}
	var first error
	for _, p := range w.procs {
		p.sentKill = p.sentKill || sig == syscall.SIGKILL
		if err := w.host.Signal(p.Pid, sig); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// retire gracefully stops p: stop signal to its group, SIGKILL at the
// graceful timeout.
func (w *Watcher) retire(p *Process) {
	if p.State == ProcStopping {
		// Already signalled (a kill with a grace of its own, a decr): the
		// earlier deadline holds, so a stop is never held by a kill's
		// longer graceful_timeout.
		if at := w.host.Now().Add(w.spec.GracefulTimeout); at.Before(p.killAt) {
			w.armKill(p, w.spec.GracefulTimeout)
		}
		return
	}
	w.toStopping(p)
	w.armKill(p, w.spec.GracefulTimeout) // first, as in KillProcess
	w.stopSignal(p, w.spec.StopSignal)
}

// toStopping marks p as being stopped, and whether it was still booting
// then (never ready): StoppedBooting.
func (w *Watcher) toStopping(p *Process) {
	if p.State != ProcStopping {
		p.booting = p.State == ProcStarting
	}
	w.setState(p, ProcStopping)
}

// stopSignal sends sig, the signal that asks p to stop, and then SIGCONT,
// as systemd does: a worker suspended by SIGSTOP (a debugger, an operator's
// kill -STOP, a job-control signal) sees a caught stop signal only once it
// runs again, so without the SIGCONT it would sit out graceful_timeout and
// be SIGKILLed instead of shutting down cleanly. Not after the signals
// that suspend or resume, which a user may send through kill on purpose.
// The stop signal goes to p's process group, or with stop_children off
// to p alone (a SIGKILL always to the group); SIGCONT to the group.
func (w *Watcher) stopSignal(p *Process, sig syscall.Signal) {
	send := w.host.Signal
	if !w.spec.StopChildren && sig != syscall.SIGKILL {
		send = w.host.SignalProcess
	}
	w.signalWith(send, p, sig)
	switch sig {
	case syscall.SIGKILL, syscall.SIGSTOP, syscall.SIGTSTP, syscall.SIGTTIN, syscall.SIGTTOU, syscall.SIGCONT:
		return
	}
	// To the whole group either way: a master suspended with its
	// children resumes them so as to stop them.
	if err := w.host.Signal(p.Pid, syscall.SIGCONT); err != nil {
		w.log.Debug("signal failed", "pid", p.Pid, "signal", configs.SignalName(syscall.SIGCONT), "error", err)
	}
}

// armKill arms p's SIGKILL at grace. The host hears of it (a TimerKill)
// before the stop signal goes out, so that what p leaves when it ends of
// that signal gets the same deadline.
func (w *Watcher) armKill(p *Process, grace time.Duration) {
	p.grace, p.killAt = grace, w.host.Now().Add(grace)
	w.seq++
	p.gen = w.seq
	w.host.After(grace, Timer{Watcher: w.id, Kind: TimerKill, Pid: p.Pid, Wid: p.Wid, Gen: p.gen})
}

func (w *Watcher) signal(p *Process, sig syscall.Signal) {
	w.signalWith(w.host.Signal, p, sig)
}

// signalWith sends sig to p through send and publishes the kill event.
// To a worker being stopped, other than its SIGKILL, the event adds its
// grace period and what is left of it (poold's addition): how long the
// drain may last.
func (w *Watcher) signalWith(send func(int, syscall.Signal) error, p *Process, sig syscall.Signal) {
	if err := send(p.Pid, sig); err != nil {
		w.log.Debug("signal failed", "pid", p.Pid, "signal", configs.SignalName(sig), "error", err)
		return
	}
	f := map[string]any{"process_pid": p.Pid, "process_id": p.Wid, "signal": int(sig)}
	if at := p.KillAt(); !at.IsZero() && sig != syscall.SIGKILL {
		f["graceful_timeout"] = p.grace.Seconds()
		f["kill_in"] = max(at.Sub(w.host.Now()), 0).Round(time.Millisecond).Seconds()
	}
	w.host.Publish(w.spec.Name, events.KindKill, f)
}
