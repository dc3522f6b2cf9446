package watcher

import (
	"fmt"
	"strconv"
	"syscall"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
)

// Exited is called by the loop when a worker's process has been reaped.
// exitCode is the exit status, or minus the signal number that killed it.
func (w *Watcher) Exited(pid, exitCode int) {
	p, ok := w.procs[pid]
	if !ok {
		return
	}
	defer w.settle()
	delete(w.procs, pid)
	w.publishExit(p, exitCode)
	if w.hasHook("before_reap", "after_reap") {
		code := map[string]string{"POOLD_EXIT_CODE": strconv.Itoa(exitCode)}
		w.notifyHook("before_reap", pid, p.Wid, code, func() { w.notifyHook("after_reap", pid, p.Wid, code, nil) })
	}
	why := DescribeExit(exitCode)
	s := w.slotFor(p.Wid)
	uptime := w.host.Now().Sub(p.Started)
	log := w.log.With("pid", pid, "wid", p.Wid)
	switch {
	case w.status == Stopping || w.status == Stopped:
		log.Debug("worker stopped", "exit", why)
		w.finishStop()
	case p.State == ProcStopping && p.failure != "":
		// poold stopped it for failing its readiness: an early death.
		w.died(s, 0, p.failure)
	case p.State == ProcStopping:
		log.Debug("worker stopped", "exit", why)
	case p.State == ProcStarting && w.newInRoll(p):
		s.lastExit = why
		w.abortRoll(fmt.Errorf("new worker pid %d (wid %d) %s before it was ready", pid, p.Wid, why))
	case w.old(p):
		// Its replacement is on the way or running already; fill starts
		// one if not.
		s.lastExit = why
		log.Warn("worker due for replacement ended on its own", "exit", why, "uptime", uptime)
	default:
		w.died(s, uptime, why)
	}
}

// publishExit publishes poold's exit event for every worker, and Circus's
// reap where circusd publishes it: for a worker that ended on its own (a
// failed readiness counts as such), and for each worker of a watcher
// being stopped that the stop itself stopped; not for one stopped on
// purpose while its watcher runs (decr, reload, kill, recycling), which
// had its kill event.
func (w *Watcher) publishExit(p *Process, exitCode int) {
	stopped := p.State == ProcStopping
	w.host.Publish(w.spec.Name, events.KindExit, map[string]any{
		"process_pid": p.Pid, "process_id": p.Wid, "exit_code": exitCode, "stopped": stopped,
	})
	if !stopped || p.failure != "" || p.byStop {
		w.host.Publish(w.spec.Name, events.KindReap, map[string]any{
			"process_pid": p.Pid, "process_id": p.Wid, "exit_code": exitCode,
		})
	}
}

// DescribeExit says how a worker ended, from its exit code (negative: the
// signal that killed it).
func DescribeExit(code int) string {
	if code < 0 {
		return "killed by signal " + configs.SignalName(syscall.Signal(-code))
	}
	return "exited with status " + strconv.Itoa(code)
}

// died applies the crash policy to a slot whose worker ended on its own,
// could not be started, or failed its readiness.
func (w *Watcher) died(s *slot, uptime time.Duration, why string) {
	s.lastExit = why
	log := w.log.With("wid", s.wid, "reason", why, "uptime", uptime)
	if !w.spec.Respawn {
		w.setHold(s, HoldExited, time.Time{})
		log.Warn("worker ended; respawn is off, so its slot stays empty")
		return
	}
	s.restarts++
	var v Verdict
	s.counters, v = w.policy.Next(s.counters, uptime)
	now := w.host.Now()
	switch v.Action {
	case Respawn:
		log.Warn("worker ended; replacing it")
		w.setHold(s, HoldDue, time.Time{})
	case BackOff:
		w.setHold(s, HoldBackoff, now.Add(v.Delay))
		w.host.After(v.Delay, Timer{Watcher: w.id, Kind: TimerRespawn, Wid: s.wid, Gen: s.epoch})
		log.Warn("worker ended soon after start; restarting its slot after a delay", "delay", v.Delay, "in_a_row", s.counters.Streak)
		w.host.Publish(w.spec.Name, events.KindBackoff, map[string]any{
			"process_id": s.wid, "delay": v.Delay.Seconds(), "failures": s.counters.Streak, "reason": why,
		})
	case Pause:
		w.setHold(s, HoldPaused, now.Add(v.Delay))
		w.host.After(v.Delay, Timer{Watcher: w.id, Kind: TimerFlapRetry, Wid: s.wid, Gen: s.epoch})
		log.Warn("slot is flapping: its workers keep ending soon after start; pausing it (other workers keep running)",
			"pause", v.Delay, "pauses", s.counters.Pauses, "max", w.policy.MaxRetry)
		w.host.Publish(w.spec.Name, events.KindFlapping, map[string]any{
			"process_id": s.wid, "reason": why, "retries": s.counters.Pauses, "retry_in": v.Delay.Seconds(), "gave_up": false,
		})
	case GiveUp:
		w.setHold(s, HoldFailed, time.Time{})
		log.Error("slot failed: its workers kept ending soon after start; giving up on it until the watcher is started or reloaded (other workers keep running)",
			"pauses", s.counters.Pauses)
		w.host.Publish(w.spec.Name, events.KindFailed, map[string]any{"process_id": s.wid, "reason": why})
	}
}
