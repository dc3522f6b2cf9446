package watcher

import (
	"fmt"
	"os"
	"strconv"

	"github.com/hashicorp/go-hclog"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher/probe"
)

// Command hooks (configs.Watcher.Hooks) run off the loop, through
// Host.Check, like a probe: the loop starts the hook and goes on serving;
// the hook's outcome comes back as a CheckHook result and the action it
// guards continues from there. Gating hooks hold their action meanwhile:
//
//	Start (stopped) ──▶ starting, gated ──before_start ok──▶ start: spawn ...
//	                                    └─before_start failed──▶ stopped
//	Stop (running) ──▶ stopping, gated ──before_stop done──▶ stop the workers
//	fill a wid ──▶ slot held (HoldHook) ──before_spawn ok──▶ spawn in that wid
//	                                   └─before_spawn failed──▶ slot failed
//
// A Stop or Kill while before_start runs, or a Kill while before_stop
// runs, acts at once; the hook's late outcome is then stale and ignored
// (each run has its own generation). after_start failing stops the
// watcher again, as in Circus; after_stop, after_spawn, before_reap and
// after_reap only log and publish hook_failure. A stop is done (Settled,
// a queued start goes on) once its after_stop is. before_reap and
// after_reap run one after the other once the worker is reaped; a stop
// is done (stop event, then after_stop) once those of its workers are.

// hookRun is a hook in flight: what to do with its outcome.
type hookRun struct {
	name   string
	log    hclog.Logger // with the watcher, the hook and its worker if any
	then   func(err error)
	cancel func()
}

// hookEnv is the environment of a hook: poold's own, plus the event.
func hookEnv(name, watcher string, pid, wid int, extra map[string]string) []string {
	env := append(os.Environ(), "POOLD_HOOK="+name, "POOLD_WATCHER="+watcher)
	if pid > 0 {
		env = append(env, "POOLD_PID="+strconv.Itoa(pid))
	}
	if wid > 0 {
		env = append(env, "POOLD_WID="+strconv.Itoa(wid))
	}
	for k, v := range extra {
		env = append(env, k+"="+v)
	}
	return env
}

// hook starts the hook name when one is configured and reports whether
// it did; then runs on the loop with its outcome (nil: it exited 0).
func (w *Watcher) hook(name string, pid, wid int, extra map[string]string, then func(err error)) bool {
	cmd := w.spec.Hooks[name]
	if cmd == "" {
		return false
	}
	w.seq++
	gen := w.seq
	if w.hooks == nil {
		w.hooks = map[uint64]hookRun{}
	}
	log := w.log.With("hook", name)
	if pid > 0 {
		log = log.With("pid", pid)
	}
	if wid > 0 {
		log = log.With("wid", wid)
	}
	// The hook's output goes to poold's log as it comes, each line with
	// the hook's name and stream, as a worker's does.
	out := log.Named("hook")
	pr := probe.Hook(cmd, hookEnv(name, w.spec.Name, pid, wid, extra), func(stream, line string) {
		out.Info(line, "stream", stream)
	}, hookLeft(log))
	log.Debug("running hook", "cmd", cmd)
	cancel := w.host.Check(Check{Watcher: w.id, Kind: CheckHook, Gen: gen}, w.spec.HookTimeout, pr.Check)
	w.hooks[gen] = hookRun{name: name, log: log, then: then, cancel: cancel}
	return true
}

// HooksRun reports whether any of the watcher's hooks runs.
func (w *Watcher) HooksRun() bool { return len(w.hooks) > 0 }

// HookHolds reports whether a before_start or before_stop hook holds the
// watcher's start or stop.
func (w *Watcher) HookHolds() bool { return w.gate != 0 }

// dropGate ends the gating hook (before_start or before_stop) that a stop
// or kill went past: its process group is killed, as at hook_timeout, and
// its outcome will be ignored. A hook left running would go on after the
// watcher stopped (a deregistration racing the next start) and publish
// its outcome late.
func (w *Watcher) dropGate(why string) {
	gen := w.gate
	w.gate = 0
	h, ok := w.hooks[gen]
	if !ok {
		return
	}
	delete(w.hooks, gen)
	h.cancel()
	h.log.Info("hook killed: " + why)
}

// hasHook reports whether the watcher has a hook at any of names.
func (w *Watcher) hasHook(names ...string) bool {
	for _, n := range names {
		if w.spec.Hooks[n] != "" {
			return true
		}
	}
	return false
}

// notifyHook runs a hook whose outcome changes nothing but the log and
// the events; next, if any, runs after it (or at once without the hook).
func (w *Watcher) notifyHook(name string, pid, wid int, extra map[string]string, next func()) {
	ran := w.hook(name, pid, wid, extra, func(error) {
		if next != nil {
			next()
		}
	})
	if !ran && next != nil {
		next()
	}
}

// hookDone receives a hook's outcome on the loop.
func (w *Watcher) hookDone(gen uint64, err error) {
	h, ok := w.hooks[gen]
	if !ok {
		return
	}
	delete(w.hooks, gen)
	defer w.settle()
	if err != nil {
		h.log.Warn("hook failed", "error", err)
		w.host.Publish(w.spec.Name, events.KindHookFailure, map[string]any{"name": h.name, "error": err.Error()})
	} else {
		w.host.Publish(w.spec.Name, events.KindHookSuccess, map[string]any{"name": h.name})
	}
	h.then(err)
	if reapHook(h.name) {
		// A stop waits for its workers' reap hooks (reapHooksRun): the
		// last one to end completes it.
		w.finishStop()
	}
}

// reapHook reports whether name is a hook that runs once a worker is
// reaped.
func reapHook(name string) bool { return name == "before_reap" || name == "after_reap" }

// reapHooksRun reports whether a before_reap or after_reap hook runs. A
// stop is not done (no stop event, no after_stop, no answer to a waited
// stop) until they have ended, as circusd reaps every worker, hooks
// included, before its after_stop.
func (w *Watcher) reapHooksRun() bool {
	for _, h := range w.hooks {
		if reapHook(h.name) {
			return true
		}
	}
	return false
}

// gateStart runs before_start for a watcher about to start; it reports
// whether the start must wait for it. The watcher shows "starting" and
// spawns nothing until the hook says yes.
func (w *Watcher) gateStart() bool {
	if w.spec.Hooks["before_start"] == "" {
		return false
	}
	w.status = Starting
	var gen uint64
	w.hook("before_start", 0, 0, nil, func(err error) {
		if w.gate != gen || w.status != Starting {
			return // stopped meanwhile
		}
		w.gate = 0
		if err != nil {
			w.status = Stopped
			w.startErr = fmt.Errorf("the before_start hook failed: %w", err)
			w.log.Warn("start aborted: the before_start hook failed", "error", err)
			return
		}
		w.begin()
	})
	gen = w.seq
	w.gate = gen
	return true
}

// gateStop runs before_stop for a running watcher about to stop; it
// reports whether the stop must wait for it (whatever its outcome, as in
// Circus, the stop goes on once it ends).
func (w *Watcher) gateStop() bool {
	if w.spec.Hooks["before_stop"] == "" || (w.status != Active && w.status != Starting) || len(w.procs) == 0 {
		return false
	}
	w.status = Stopping
	w.clearHolds(true)
	w.endRoll(nil)
	var gen uint64
	w.hook("before_stop", 0, 0, nil, func(error) {
		if w.gate != gen || w.status != Stopping {
			return
		}
		w.gate = 0
		w.stopWorkers(false)
	})
	gen = w.seq
	w.gate = gen
	return true
}

// gateSpawn runs before_spawn for wid and holds its slot meanwhile; it
// reports whether the spawn must wait. A failing hook leaves the slot
// failed (empty until the watcher is started or reloaded again), or, for
// a new worker of a rolling reload, abandons the reload.
func (w *Watcher) gateSpawn(s *slot) bool {
	if w.spec.Hooks["before_spawn"] == "" {
		return false
	}
	if s.hookPassed {
		s.hookPassed = false
		return false
	}
	w.setHold(s, HoldHook, w.host.Now())
	epoch := s.epoch
	w.hook("before_spawn", 0, s.wid, nil, func(err error) {
		if s.hold != HoldHook || s.epoch != epoch || w.slots[s.wid] != s {
			return // trimmed, stopped or restarted meanwhile
		}
		if err != nil && w.roll != nil {
			// A new worker of a rollout: the new version cannot start,
			// as when its spawn fails (finishFirst); the old workers,
			// which its seat did not replace, keep serving.
			s.lastExit, s.lastPid = "before_spawn hook failed: "+err.Error(), 0
			w.setHold(s, HoldNone, w.host.Now())
			w.abortRoll(fmt.Errorf("the before_spawn hook failed for a new worker (wid %d): %w", s.wid, err))
			return
		}
		if err != nil {
			s.lastExit, s.lastPid = "before_spawn hook failed: "+err.Error(), 0
			w.setHold(s, HoldFailed, w.host.Now())
			s.hookFailed = true
			w.host.Publish(w.spec.Name, events.KindFailed, map[string]any{"process_id": s.wid, "reason": s.lastExit})
			return
		}
		s.hookPassed = true
		w.setHold(s, HoldDue, w.host.Now())
	})
	return true
}
