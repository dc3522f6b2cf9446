package watcher

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher/launch"
	"github.com/poold/poold/watcher/probe"
)

// Fire handles a timer armed by this watcher.
func (w *Watcher) Fire(t Timer) {
	defer w.settle()
	p := w.procs[t.Pid]
	live := p != nil && p.gen == t.Gen
	switch t.Kind {
	case TimerKill:
		if live && p.State == ProcStopping {
			w.log.Warn("stop not over within graceful_timeout; killing the worker and everything it started",
				"pid", p.Pid, "wid", p.Wid, "graceful_timeout", p.grace)
			p.killed = true
			w.signal(p, syscall.SIGKILL)
		}
	case TimerRespawn, TimerFlapRetry:
		s := w.slots[t.Wid]
		if s == nil || s.epoch != t.Gen || (s.hold != HoldBackoff && s.hold != HoldPaused) {
			return
		}
		switch {
		case s.hold == HoldPaused && s.lacked: // lackLog says it for the watcher
			w.log.Debug("flapping pause over; starting the slot again", "wid", s.wid, "pause", s.counters.Pauses)
		case s.hold == HoldPaused:
			w.log.Info("flapping pause over; starting the slot again", "wid", s.wid, "pause", s.counters.Pauses)
		}
		w.setHold(s, HoldDue, time.Time{})
	case TimerReadyDelay:
		switch {
		case !live || p.State != ProcStarting:
		case w.spec.Readiness == "" || w.spec.Readiness == "spawn":
			w.awaitStarted(p)
		default:
			w.ready(p)
		}
	case TimerReadyTimeout:
		if live && p.State == ProcStarting {
			w.notReady(p, fmt.Errorf("not ready within ready_timeout %v (readiness %s)", w.spec.ReadyTimeout, w.spec.Readiness))
		}
	case TimerMaxAge:
		if live {
			w.maxAgeReached(p)
		}
	case TimerSurvived:
		if live {
			w.survived(p)
		}
	case TimerRecovered:
		w.recovered(t.Gen)
	case TimerWarmup:
		if t.Gen == w.warmup {
			w.warmup = 0
		}
	case TimerMore:
		if t.Gen == w.more {
			w.more = 0
		}
	case TimerHealth:
		if t.Gen == w.health && (w.status == Active || w.status == Starting) {
			w.healthRound()
			w.host.After(w.spec.HealthInterval, t)
		}
	}
}

// maxAgeReached ends live worker p at its max_age: replaced through the
// rolling path, or, with respawn = false, stopped with its slot left
// empty.
func (w *Watcher) maxAgeReached(p *Process) {
	// A timer armed before a change of max_age or its variance
	// (Update armed the one that counts) does nothing.
	if p.State != ProcReady || p.Recycle || w.spec.MaxAge <= 0 || w.host.Now().Before(p.ageAt) {
		return
	}
	if !w.spec.Respawn {
		// As circusd: max_age ends the worker and respawn = false
		// starts none; its slot stays empty, as after an exit.
		w.log.Info("worker reached max_age; stopping it, and respawn is off, so its slot stays empty", "pid", p.Pid, "wid", p.Wid)
		s := w.slotFor(p.Wid)
		s.lastExit = "reached max_age and is stopping" // until its exit says how it ended
		s.badExit = false
		w.setHold(s, HoldExited, time.Time{})
		w.retire(p)
		return
	}
	w.recycle(p, RestartMaxAge, "max_age")
	if n := w.stoppingHoldSeats(); n > 0 {
		// Its replacement needs a seat of numprocesses+max_surge,
		// and workers still stopping (a reload's old ones draining
		// long connections) take some: said so, not "replacing".
		w.log.Info("worker reached max_age; its replacement starts once a wid frees: numprocesses + max_surge workers run, draining ones included, and workers still stopping are among them",
			"pid", p.Pid, "wid", p.Wid, "stopping", n)
		return
	}
	w.log.Info("worker reached max_age; replacing it", "pid", p.Pid, "wid", p.Wid)
}

// Ready marks a worker ready (readiness notify: READY=1 from it or its
// process group).
func (w *Watcher) Ready(pid int) {
	if p, ok := w.procs[pid]; ok && p.State == ProcStarting {
		defer w.settle()
		w.ready(p)
	}
}

func (w *Watcher) ready(p *Process) {
	w.setState(p, ProcReady)
	w.host.Publish(w.spec.Name, events.KindReady, map[string]any{"process_pid": p.Pid, "process_id": p.Wid})
	w.armMaxAge(p, 0)
}

// armMaxAge arms the timer that recycles p at max_age (plus a random part
// of max_age_variance), lived counting as already spent of it.
func (w *Watcher) armMaxAge(p *Process, lived time.Duration) {
	if w.spec.MaxAge <= 0 {
		return
	}
	age := w.spec.MaxAge
	if w.spec.MaxAgeVariance > 0 {
		age = addSat(age, float64(rand.Int64N(int64(w.spec.MaxAgeVariance))))
	}
	d := max(age-lived, 0)
	p.ageAt = w.host.Now().Add(d)
	w.host.After(d, Timer{Watcher: w.id, Kind: TimerMaxAge, Pid: p.Pid, Wid: p.Wid, Gen: p.gen})
}

// notReady handles a worker that failed its readiness: it is stopped; in a
// rollout the rollout is abandoned, otherwise its exit counts as an early
// death of its slot.
func (w *Watcher) notReady(p *Process, err error) {
	w.log.Warn("worker failed to become ready; stopping it", "pid", p.Pid, "wid", p.Wid, "error", err)
	w.host.Publish(w.spec.Name, events.KindUnhealthy, map[string]any{"process_pid": p.Pid, "process_id": p.Wid, "reason": err.Error()})
	if w.newInRoll(p) {
		w.abortRoll(fmt.Errorf("new worker pid %d (wid %d): %v; %s", p.Pid, p.Wid, err, w.outputHint(p.Pid, p.Wid)))
		return
	}
	w.setFailure(p, ReasonReadiness, "failed readiness: "+err.Error())
	w.retire(p)
}

// watchReady starts whatever tells that p is ready.
func (w *Watcher) watchReady(p *Process) {
	switch w.spec.Readiness {
	case "", "spawn":
		switch {
		case w.awaitHandover(p):
		case w.spawnWindow > 0:
			w.host.After(w.spawnWindow, Timer{Watcher: w.id, Kind: TimerReadyDelay, Pid: p.Pid, Wid: p.Wid, Gen: p.gen})
		default:
			w.ready(p)
		}
	case "delay":
		if w.spec.ReadyDelay == 0 {
			// Ready once started, as supervisord's startsecs=0: an exit
			// then is never a failed start.
			w.ready(p)
			return
		}
		w.host.After(w.spec.ReadyDelay, Timer{Watcher: w.id, Kind: TimerReadyDelay, Pid: p.Pid, Wid: p.Wid, Gen: p.gen})
	case "notify":
		w.host.After(w.spec.ReadyTimeout, Timer{Watcher: w.id, Kind: TimerReadyTimeout, Pid: p.Pid, Wid: p.Wid, Gen: p.gen})
	case "tcp", "http":
		pr, err := w.probe(w.spec.Readiness, w.spec.ReadyURL, w.spec.ReadyAddress, "", p)
		if err != nil {
			w.notReady(p, fmt.Errorf("readiness probe cannot run: %w", err))
			return
		}
		w.host.Check(Check{Watcher: w.id, Kind: CheckReady, Pid: p.Pid, Gen: p.gen}, w.spec.ReadyTimeout,
			func(ctx context.Context) error { return probe.Poll(ctx, pr, 50*time.Millisecond, w.spec.HealthTimeout) })
	}
}

// Checked receives the outcome of a probe the watcher asked for.
func (w *Watcher) Checked(c Check, err error) {
	switch c.Kind {
	case CheckHook:
		w.hookDone(c.Gen, err)
		return
	case CheckLookup:
		w.lookedUp(c.Gen)
		return
	}
	p, ok := w.procs[c.Pid]
	if !ok || p.gen != c.Gen {
		return
	}
	defer w.settle()
	switch c.Kind {
	case CheckHandover:
		w.handedOver(p, err)
	case CheckReady:
		if p.State != ProcStarting {
			return
		}
		if err != nil {
			w.notReady(p, err)
			return
		}
		w.ready(p)
	case CheckHealth:
		p.probing = false
		if p.State != ProcReady || p.Recycle {
			return
		}
		if err == nil {
			if !p.healthy {
				w.log.Debug("worker passed its first health check", "pid", p.Pid, "wid", p.Wid)
			}
			p.healthKO, p.healthy = 0, true
			w.passed(p)
			return
		}
		p.healthKO++
		w.log.Warn("health check failed", "pid", p.Pid, "wid", p.Wid, "failures", p.healthKO, "threshold", w.spec.HealthThreshold, "error", err)
		if p.healthKO >= w.spec.HealthThreshold {
			w.unhealthy(p, err)
		}
	}
}

// Sampled receives one stats sample of a worker's own process; see
// SampledPeak.
func (w *Watcher) Sampled(pid int, rss uint64, cpu float64) {
	w.SampledPeak(pid, Sample{RSS: rss, RSSPid: pid, CPU: cpu, CPUPid: pid})
}

// Sample is one stats sample of a worker for its limits: the largest
// resident memory and CPU of one process among the worker and those it
// started, and whose they are.
type Sample struct {
	RSS    uint64
	RSSPid int
	CPU    float64
	CPUPid int
}

// SampledPeak receives one stats sample of worker pid and replaces it
// when it has been over max_rss or max_cpu for limit_threshold samples in
// a row.
func (w *Watcher) SampledPeak(pid int, s Sample) {
	p, ok := w.procs[pid]
	if !ok || p.State != ProcReady || p.Recycle {
		return
	}
	of := func(by int) string {
		if by == pid || by == 0 {
			return ""
		}
		return fmt.Sprintf(" in pid %d, which the worker started,", by)
	}
	var over string
	switch {
	case w.spec.MaxRSS > 0 && s.RSS > w.spec.MaxRSS:
		over = fmt.Sprintf("rss %d bytes%s over max_rss %d", s.RSS, of(s.RSSPid), w.spec.MaxRSS)
	case w.spec.MaxCPU > 0 && s.CPU > w.spec.MaxCPU:
		over = fmt.Sprintf("cpu %.1f%%%s over max_cpu %.1f%%", s.CPU, of(s.CPUPid), w.spec.MaxCPU)
	}
	if over == "" {
		p.limitKO = 0
		return
	}
	if p.limitKO == 0 {
		p.overAge = w.host.Now().Sub(p.Started)
	}
	p.limitKO++
	if p.limitKO >= w.spec.LimitThreshold {
		defer w.settle()
		w.overLimit(p, over)
	}
}

// overLimit replaces a worker that has been over a resource limit for
// limit_threshold samples in a row. One that went over only after it had
// lived the crash policy's "early" (a slow leak, what the limits are for)
// is replaced the rolling way, its replacement first. One that was over
// already before (a program that needs more than the limit) would only be
// replaced by another as fat, forever: like a worker that never passed a
// health check, it is stopped first, with no replacement beside it (which
// would hold twice the memory over the limit while its slot backs off
// anyway), and its exit is an early death of its slot, so the slot backs
// off, flaps and fails, saying which limit and by how much.
func (w *Watcher) overLimit(p *Process, over string) {
	w.host.Publish(w.spec.Name, events.KindUnhealthy, map[string]any{"process_pid": p.Pid, "process_id": p.Wid, "reason": over, "limit": true})
	log := w.log.With("pid", p.Pid, "wid", p.Wid, "limit", over, "samples", p.limitKO, "over_since_uptime", p.overAge)
	if p.overAge >= w.policy.Early {
		log.Warn("worker over its resource limit; replacing it")
		w.recycle(p, RestartLimit, over)
		return
	}
	log.Warn("worker over its resource limit soon after start; stopping it (an early death of its slot)")
	w.setFailure(p, ReasonLimit, "over its limit soon after start: "+over)
	w.retire(p)
}

// unhealthy replaces a worker that failed health_threshold checks in a
// row. One that was healthy once hung or broke later: its replacement
// starts first (rolling). One that never passed a check is no better
// than a worker that fails its readiness: it is stopped and its exit
// counts as an early death of its slot, so a pool that is never healthy
// backs off, flaps and fails visibly instead of being replaced forever.
func (w *Watcher) unhealthy(p *Process, err error) {
	if !p.heldSick { // once per worker a trial holds
		w.host.Publish(w.spec.Name, events.KindUnhealthy, map[string]any{"process_pid": p.Pid, "process_id": p.Wid, "reason": err.Error()})
	}
	if p.healthy && w.holdSick(p, err) {
		return
	}
	if p.healthy {
		order := "its replacement first"
		if w.spec.Singleton {
			order = "once it has stopped (a singleton)"
		}
		w.log.Warn("worker failed health_threshold health checks in a row; replacing it, "+order,
			"pid", p.Pid, "wid", p.Wid, "failures", p.healthKO, "error", err)
		w.recycle(p, RestartUnhealthy, "health check: "+err.Error())
		return
	}
	w.log.Warn("worker never passed its health check; stopping it (an early death of its slot)", "pid", p.Pid, "wid", p.Wid, "error", err)
	w.setFailure(p, ReasonUnhealthy, "never healthy: "+err.Error())
	w.retire(p)
}

// recycle replaces one worker through the rolling path: its replacement
// starts first and it retires once that one is ready. A singleton's
// worker stops first instead (surge): it runs at most once, as circusd's
// max_age kills before it spawns. reason is the restart's (Restart*):
// the replacement carries on p's count, one more unless max_age.
func (w *Watcher) recycle(p *Process, reason, why string) {
	w.markRecycled(p)
	p.recycleWhy = why
	w.countRestart(reason, p.Wid, p.Pid, why)
	if reason == RestartMaxAge {
		w.owe(p.Restarts)
	} else {
		w.owe(p.Restarts + 1)
	}
	w.host.Publish(w.spec.Name, events.KindRecycle, map[string]any{"process_pid": p.Pid, "process_id": p.Wid, "reason": why})
	if w.spec.Singleton {
		w.retire(p)
	}
}

func (w *Watcher) armHealth() {
	w.seq++
	w.health = w.seq
	if w.spec.HealthCheck == "" {
		return
	}
	w.host.After(w.spec.HealthInterval, Timer{Watcher: w.id, Kind: TimerHealth, Gen: w.health})
}

// healthRound probes each ready worker whose last probe has answered: a
// worker slower than health_interval is not sent a second probe while the
// first waits (health_timeout may be the longer), which would load a
// worker that is already slow and count failures faster than one probe
// can time out.
func (w *Watcher) healthRound() {
	w.healthRounds++
	for _, p := range w.procs {
		if p.State != ProcReady || p.Recycle || p.probing {
			continue
		}
		pr, err := w.probe(w.spec.HealthCheck, w.spec.HealthURL, w.spec.HealthAddress, w.spec.HealthCmd, p)
		if err != nil {
			w.log.Error("health check cannot run", "error", err)
			return
		}
		p.probing, p.probeOf = true, w.healthRounds
		w.host.Check(Check{Watcher: w.id, Kind: CheckHealth, Pid: p.Pid, Gen: p.gen}, w.spec.HealthTimeout, pr.Check)
	}
}

// probe builds the probe of kind for p, with its variables expanded.
func (w *Watcher) probe(kind, url, address, cmd string, p *Process) (probe.Probe, error) {
	vars := w.vars(p.Wid)
	switch kind {
	case "http":
		return probe.HTTP(configs.Expand(url, vars)), nil
	case "tcp":
		return probe.TCP(configs.Expand(address, vars)), nil
	case "exec":
		// The probe runs on a goroutine of its own: it gets the user of
		// now, not w.cred, which each spawn looks up again (refreshCred).
		cred := w.cred
		look := func(name string) (string, error) { return launch.LookProbe(name, cred) }
		return probe.ExecAs(configs.Expand(cmd, vars), w.probeEnv(p), cred, look), nil
	}
	return nil, fmt.Errorf("unknown probe kind %q", kind)
}

// outputHint tells where to read what worker pid (of wid) wrote before
// it failed (a Python traceback, most often): the ring, which a busy
// pool's access log soon overwrites, and where its stderr goes.
func (w *Watcher) outputHint(pid, wid int) string {
	name := w.spec.Name
	if strings.ContainsAny(name, " \t'\"") {
		name = strconv.Quote(name)
	}
	hint := fmt.Sprintf("see its output: poolctl logs %s --wid %d", name, wid)
	switch dest := w.spec.Logs.Stderr; {
	case dest == configs.LogToStderr:
		hint += fmt.Sprintf(", or poold's log (pid=%d)", pid)
	case configs.IsLogFile(dest):
		hint += ", or " + dest
	}
	return hint
}

// noteStopsKeepGrace says, when graceful_timeout changed from was (a set,
// a reload) while workers are stopping, that their stops keep the
// deadline they were given, as systemd's TimeoutStopSec: the new value is
// for the next stop.
func (w *Watcher) noteStopsKeepGrace(was time.Duration) {
	if w.spec.GracefulTimeout == was {
		return
	}
	var pids []int
	var last time.Time
	for _, p := range w.procs {
		if p.State == ProcStopping && !p.killed {
			pids = append(pids, p.Pid)
			if p.killAt.After(last) {
				last = p.killAt
			}
		}
	}
	if len(pids) == 0 {
		return
	}
	slices.Sort(pids)
	w.log.Info("graceful_timeout changed: the workers already stopping keep the deadline they were given; the new value is for the next stop",
		"graceful_timeout", w.spec.GracefulTimeout, "was", was, "stopping", pids, "killed_in_at_most", last.Sub(w.host.Now()).Round(time.Millisecond))
}

// Hurry sends sig again to each of w's workers being stopped that poold
// has not SIGKILLed, as stopSignal sends stop_signal (to the worker
// alone with stop_children off): poold's second stop request, which a
// job runner reads as a cold shutdown. Their deadlines stand. It returns
// how many it signalled.
func (w *Watcher) Hurry(sig syscall.Signal) int {
	n := 0
	for _, p := range w.procs {
		if p.State == ProcStopping && !p.killed {
			w.stopSignal(p, sig)
			n++
		}
	}
	return n
}
