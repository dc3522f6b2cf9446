package watcher

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher/launch"
	"github.com/poold/poold/watcher/spawn"
)

// Exited is Ended for an exit code alone (negative: minus the signal that
// killed the worker), as tests and callers without a cgroup know it.
func (w *Watcher) Exited(pid, exitCode int) {
	ex := spawn.Exit{Code: exitCode}
	if exitCode < 0 {
		ex = spawn.Exit{Signal: syscall.Signal(-exitCode)}
	}
	w.Ended(pid, End{Exit: ex})
}

// End is how a worker's process ended, as the host saw it.
type End struct {
	spawn.Exit
	OOM int // processes of its cgroup the kernel's OOM killer killed
	// OOMTold is how many of those poold reported while it ran, as
	// kills of its children (arbiter/oomchild.go): not its own end.
	OOMTold int
	// OuterOOM, for a worker killed by SIGKILL, names poold's own memory
	// cgroup (a container's) when its OOM killer killed a process then:
	// the worker, most likely, when it has no memory_max of its own.
	OuterOOM string
	// OOMAbove says that the OOM kills its cgroup counted (OOM) came of
	// a memory limit above that cgroup (poold's, a container's, the
	// machine's, named by OuterOOM when known): its own never was reached.
	OOMAbove bool
	// Left is how many processes were still in its cgroup (or process
	// group) once it had ended, which poold then killed (KillMode=mixed),
	// or, for a worker being stopped, waited for; or, for one killed by a
	// signal, sent LeftSignal.
	Left int
	// LeftKilled says poold killed those: at once, or at the stop's
	// graceful_timeout.
	LeftKilled bool
	// LeftSignal, for a worker killed by a signal while not being
	// stopped, is the stop_signal poold sent what it left; those get
	// LeftGrace (its graceful_timeout) before SIGKILL, while its slot's
	// next worker starts (the arbiter logs how they end).
	LeftSignal syscall.Signal
	LeftGrace  time.Duration
	// PidsRefused is how many forks (or thread starts) of its cgroup a
	// pids limit refused: why a worker that cannot fork exits.
	PidsRefused int
}

// Ended is called by the loop when a worker's process has been reaped
// (and, in a cgroup, once nothing else of it was left).
func (w *Watcher) Ended(pid int, end End) {
	if p, ok := w.procs[pid]; ok {
		w.ended(p, end)
	}
}

// EndedEarlier is Ended for a process whose pid the kernel has already
// given a newer worker of this watcher before this exit reached the
// loop: it ends that earlier process, never the newer one. (When the
// newer worker is another watcher's, Ended is right.)
func (w *Watcher) EndedEarlier(pid int, end End) {
	for i, p := range w.earlier {
		if p.Pid == pid {
			w.earlier = slices.Delete(w.earlier, i, i+1)
			w.ended(p, end)
			return
		}
	}
}

func (w *Watcher) ended(p *Process, end End) {
	pid := p.Pid
	defer w.settle()
	w.removeProc(p)
	code, why := w.exitReason(p, end)
	w.publishExit(p, end, code, why)
	if w.hasHook("before_reap", "after_reap") {
		env := map[string]string{"POOLD_EXIT_CODE": strconv.Itoa(end.Status())}
		w.notifyHook("before_reap", pid, p.Wid, env, func() { w.notifyHook("after_reap", pid, p.Wid, env, nil) })
	}
	wasReady := p.State == ProcReady
	s := w.slotFor(p.Wid)
	s.lastExit, s.lastPid, s.lastCode = why, pid, code
	s.badExit = !w.fineExit(end) || p.failure != ""
	uptime := w.host.Now().Sub(p.Started)
	log := w.log.With("pid", pid, "wid", p.Wid, "end", code)
	switch {
	case w.status == Stopping || w.status == Stopped:
		log.Debug("worker stopped", "exit", why)
		w.finishStop()
	case p.State == ProcStopping && p.failure != "":
		// poold stopped it for failing its readiness, its health checks
		// or a limit soon after start: an early death, however long it
		// ran (its health checks may have outlived backoff_reset). One
		// never healthy while a health trial is out failed as every
		// worker does (healthtrial.go): its slot pauses, never gives up.
		shared := ""
		if p.failCode == ReasonUnhealthy && w.trial != 0 {
			shared = sharedHealth
		}
		w.died(s, pid, uptime, why, true, false, shared)
	case p.State == ProcStopping:
		log.Debug("worker stopped", "exit", why)
		s.pastDeaths = true
		if s.hold == HoldExited {
			// Only max_age without respawn stops a worker into an
			// exited slot (ready.go): the reason is its age, and
			// poold's stop is no failure of the worker.
			s.lastExit = "reached max_age and was stopped (" + why + ")"
			s.badExit = false
		}
	case p.State == ProcStarting && w.newInRoll(p):
		w.abortRoll(fmt.Errorf("new worker pid %d (wid %d) %s before it was ready; %s", pid, p.Wid, why, w.outputHint(pid, p.Wid)))
	case w.old(p):
		// Its replacement is on the way or running already; fill starts
		// one if not.
		s.diedInRoll = w.roll != nil
		log.Warn("worker due for replacement ended on its own", "exit", why, "uptime", uptime)
	case w.doneExit(p, end):
		// As supervisord's autorestart=unexpected: an expected status
		// after a good start ends the slot's work.
		s.pastDeaths = false
		w.setHold(s, HoldExited, time.Time{})
		log.Info("worker exited with a status listed in no_respawn_exit_codes; its slot stays empty until the watcher is started again", "exit", why)
	case w.ranItsCourse(p, end, uptime):
		// A consumer's --burst, --max-jobs or idle exit: it ran, and
		// ended on purpose. No early death: replaced at once, its
		// slot's crash count starting over.
		s.restarts, s.pastDeaths = s.restarts+1, false
		w.countRestart(RestartExit, s.wid, pid, why)
		w.setCounters(s, Counters{})
		w.setHold(s, HoldDue, time.Time{})
		log.Info("worker exited with status 0 after it had run; replacing it", "uptime", uptime)
	default:
		w.died(s, pid, uptime, why, false, wasReady, "")
	}
}

// Why a slot whose worker keeps failing pauses again rather than give up
// (died's shared): the cause is not its own, and would outlast it.
const (
	// A health trial is out and no worker passes its checks.
	sharedHealth = "no worker passes its health check (a cause they share?)"
	// The start failed for want of pids, memory or fds (spawn.Lacked):
	// poold's or the host's, which come back when workers end or a
	// limit is raised; the slot starts then, as nothing else would.
	sharedLack = "poold lacks the pids, memory or fds to start this worker (a limit of poold's or of the host's)"
)

// ranFor is how long a ready worker must have run for its status 0 to be
// an end on purpose rather than an early death (supervisord's startsecs).
const ranFor = time.Second

// ranItsCourse reports whether p, which ended on its own with respawn on,
// exited with status 0 once it was ready and had run ranFor: a worker
// that does its share and leaves, which must never back off, flap or
// fail. One that exits 0 sooner (a misconfigured command, a program that
// prints its usage) still dies early, so it cannot spin.
func (w *Watcher) ranItsCourse(p *Process, end End, uptime time.Duration) bool {
	return w.spec.Respawn && p.State == ProcReady && end.Signal == 0 && end.Code == 0 && uptime >= ranFor
}

// doneExit reports whether p, which ended on its own, exited with a
// status no_respawn_exit_codes lists once it was ready (one that ends
// before it is ready failed its start, whatever its status, as under
// supervisord's startsecs).
func (w *Watcher) doneExit(p *Process, end End) bool {
	return w.spec.Respawn && p.State == ProcReady && end.Signal == 0 && slices.Contains(w.spec.NoRespawnExitCodes, end.Code)
}

// fineExit reports whether end is an exit status the config declares
// fine: 0, or one no_respawn_exit_codes lists. A signal never is.
func (w *Watcher) fineExit(end End) bool {
	return end.Signal == 0 && (end.Code == 0 || slices.Contains(w.spec.NoRespawnExitCodes, end.Code))
}

// publishExit publishes poold's exit event for every worker, and Circus's
// reap where circusd publishes it: for a worker that ended on its own (a
// failed readiness counts as such), and for each worker of a watcher
// being stopped that the stop itself stopped; not for one stopped on
// purpose while its watcher runs (decr, reload, kill, recycling), which
// had its kill event.
// Both carry how it ended: reason (Reason*), exit_reason, and for a signal
// its name and whether it dumped core.
func (w *Watcher) publishExit(p *Process, end End, code, why string) {
	stopped := p.State == ProcStopping
	fields := func() map[string]any {
		f := map[string]any{
			"process_pid": p.Pid, "process_id": p.Wid, "exit_code": end.Status(),
			"reason": code, "exit_reason": why,
		}
		if end.Signal != 0 {
			f["signal"] = configs.SignalName(end.Signal)
			f["core_dumped"] = end.Core
		}
		return f
	}
	exit := fields()
	exit["stopped"] = stopped
	w.host.Publish(w.spec.Name, events.KindExit, exit)
	if !stopped || p.failure != "" || p.byStop {
		w.host.Publish(w.spec.Name, events.KindReap, fields())
	}
}

// Exit reason codes, the "reason" of a reap event.
const (
	ReasonExit      = "exit"             // exited on its own, with a status
	ReasonSignal    = "signal"           // killed by a signal poold did not send as a kill
	ReasonOOM       = "oom"              // killed by the kernel's OOM killer (cgroup)
	ReasonTimeout   = "graceful_timeout" // killed by poold after graceful_timeout
	ReasonReadiness = "readiness"        // stopped by poold for failing readiness
	ReasonUnhealthy = "unhealthy"        // stopped by poold: it never passed its health check
	ReasonLimit     = "limit"            // stopped by poold: over max_rss or max_cpu soon after its start
)

// exitReason says how p ended: a code (Reason*) and a sentence.
func (w *Watcher) exitReason(p *Process, end End) (code, why string) {
	base := DescribeEnd(end.Exit)
	oom := ""
	if end.OOM > 0 {
		oom = fmt.Sprintf(" (the OOM killer killed %d process(es) of its cgroup)", end.OOM)
	}
	// Only kills not told as a child's while it ran may be its own: a
	// kill -9 of a master whose child was OOM-killed long before is a
	// kill -9 (r62 H1). A KILL poold itself sent (poolctl signal) is
	// that, whatever a child met at the same moment.
	own := end.OOM - end.OOMTold
	if end.OOMTold > 0 && own <= 0 {
		oom = fmt.Sprintf(" (the OOM killer killed %d child process(es) of its cgroup earlier, reported then)", end.OOMTold)
	}
	killed := end.Signal == syscall.SIGKILL && !p.sentKill
	if p.sentKill && end.Signal == syscall.SIGKILL {
		base += ", sent by poold's signal command"
	}
	// poold's own reasons first: the cgroup's OOM count may be a child's.
	switch {
	case p.failure != "":
		return p.failCode, p.failure + "; " + base + oom
	case p.killed && end.Signal == syscall.SIGKILL:
		return ReasonTimeout, fmt.Sprintf("killed by poold after graceful_timeout (%v)", p.grace) + oom
	case (p.killed || end.LeftKilled) && p.State == ProcStopping && end.Left > 0:
		// It ended of the stop signal, what it started did not: those
		// held the stop until its deadline.
		return ReasonTimeout, fmt.Sprintf("%s, leaving %d process(es) running, which poold killed after graceful_timeout (%v)", base, end.Left, p.grace) + oom
	case own > 0 && killed && w.spec.MemoryMax > 0 && end.OOMAbove:
		return ReasonOOM, oomAbove(w.spec.MemoryMax, end.OuterOOM)
	case own > 0 && killed && w.spec.MemoryMax > 0:
		return ReasonOOM, fmt.Sprintf("killed by the OOM killer (memory_max %d bytes)", w.spec.MemoryMax)
	case (own > 0 || end.OuterOOM != "") && killed:
		return ReasonOOM, oomOutside(end.OuterOOM)
	}
	base += oom
	switch {
	case end.Left > 0 && p.State != ProcStopping && end.Signal == 0 && end.PidsRefused == 0:
		// It exited on its own and left processes: most likely a program
		// that daemonizes (forks, and the parent exits), which then looks
		// like a worker that exits at once, forever.
		base += fmt.Sprintf(", leaving %d process(es) running, which poold killed: a worker must stay in the foreground "+
			"(if the program daemonizes, turn that off, e.g. nginx 'daemon off;', gunicorn without --daemon)", end.Left)
	case end.Left > 0 && p.State != ProcStopping && end.LeftSignal != 0:
		// Killed (a kill -9 or an OOM kill of a master): its children
		// outlived it, which says nothing of daemonizing; a master's
		// workers finish their requests, as in a stop.
		base += fmt.Sprintf(", leaving %d process(es) running, which poold sent %s (SIGKILL to those left after graceful_timeout %v)",
			end.Left, configs.SignalName(end.LeftSignal), end.LeftGrace)
	case end.Left > 0 && p.State != ProcStopping:
		base += fmt.Sprintf(", leaving %d process(es) running, which poold killed", end.Left)
	}
	base += w.pidsNote(end.PidsRefused)
	if p.recycleWhy != "" && p.State == ProcStopping {
		// Stopped by poold to be replaced (max_rss, max_cpu, a health
		// check, max_age): its exit event and slot said only "exited
		// with status 0", as if it had ended on its own (r62 L2).
		base = "replaced (" + p.recycleWhy + "): " + base
	}
	if end.Signal != 0 {
		return ReasonSignal, base
	}
	return ReasonExit, base
}

// pidsNote says that a pids limit refused n forks of a worker's cgroup:
// the likely cause of its end (a shell prints "Cannot fork", a Python or
// Go program "resource temporarily unavailable" and exits), which its
// exit status alone, or the processes it left, would blame on something
// else.
func (w *Watcher) pidsNote(n int) string {
	if n <= 0 {
		return ""
	}
	// The count is the forking cgroup's whichever limit refused: the
	// worker's own, or one above it (poold's cgroup, the container's).
	limit := "poold's or the container's pids limit (TasksMax=, --pids-limit)"
	if w.spec.PidsMax > 0 {
		limit = fmt.Sprintf("the watcher's pids_max (%d) or a pids limit above it (poold's, the container's)", w.spec.PidsMax)
	}
	return fmt.Sprintf("; a pids limit refused %d fork(s) or thread start(s) of its cgroup: raise %s, or make the program start fewer processes and threads", n, limit)
}

// oomAbove says how a worker was OOM-killed by a memory limit above its
// own cgroup (outer, when known) while under its memory_max, max: raising
// memory_max would change nothing.
func oomAbove(max uint64, outer string) string {
	if outer == "" {
		outer = "a memory limit above its cgroup (poold's, the container's) or the machine"
	}
	return fmt.Sprintf("killed by the OOM killer, not at its memory_max (%d bytes, not reached): out of memory: %s; "+
		"raise that limit, or lower memory_max below it so that this worker's own limit is the one it meets", max, outer)
}

// oomOutside says how a worker without a memory_max of its own was
// OOM-killed: by the limit of poold's cgroup (a container's), outer.
func oomOutside(outer string) string {
	if outer == "" {
		outer = "the cgroup poold runs in, or the machine"
	}
	return "killed by the OOM killer (it has no memory_max; out of memory: " + outer +
		"; raise that limit, or set memory_max on the watcher so that its worker gets a limit of its own)"
}

// DescribeExit says how a worker ended, from its exit code (negative: the
// signal that killed it).
func DescribeExit(code int) string {
	if code < 0 {
		return DescribeEnd(spawn.Exit{Signal: syscall.Signal(-code)})
	}
	return DescribeEnd(spawn.Exit{Code: code})
}

// DescribeEnd says how a process ended: its status, or the signal's name
// and whether it dumped core.
func DescribeEnd(ex spawn.Exit) string {
	if ex.Signal == 0 && ex.Code < 0 {
		// No status is negative: poold could not wait for it (a worker
		// an upgrade's old image reaped just before the exec).
		return "ended with its exit status unknown (poold could not wait for it; its log says why)"
	}
	if ex.Signal == 0 {
		return "exited with status " + strconv.Itoa(ex.Code)
	}
	s := "killed by signal " + configs.SignalName(ex.Signal)
	if ex.Core {
		s += " (core dumped)"
	}
	return s
}

// endedWords words a slot's death for the log: ended for the worker,
// keep for a slot whose workers keep dying. A worker that could not be
// started never ran; one that had become ready served before it ended,
// and only its uptime, short of the crash policy's early window (the
// shorter of backoff_reset and flapping_window), makes its slot wait (a
// kill -9 of a worker 9 s into its service was logged as ending "soon
// after start", which reads as a failed boot).
func endedWords(why string, ready bool) (ended, keep string) {
	switch {
	case strings.HasPrefix(why, spawnErrorPrefix):
		return "worker could not be started", "its workers cannot be started"
	case ready:
		return "worker ended after it had become ready, but young (its uptime under backoff_reset or flapping_window)",
			"its workers keep ending young after they became ready"
	}
	return "worker ended soon after start", "its workers keep ending soon after start"
}

// died applies the crash policy to a slot whose worker ended on its own,
// could not be started, or failed its readiness, its health checks or a
// limit. uptime is how long the worker ran (0 for one never started);
// early makes the death count as early whatever that was, for a worker
// poold stopped because it failed; ready says the worker had become
// ready (and served) before it ended. pid is the worker's (0: none was
// started), which the log names so its lines can be found by it. shared,
// when not empty, says why the cause is not the slot's (sharedHealth,
// sharedLack): the slot pauses where it would give up.
func (w *Watcher) died(s *slot, pid int, uptime time.Duration, why string, early, ready bool, shared string) {
	s.lastExit, s.lastPid, s.pastDeaths, s.lacked = why, pid, false, shared == sharedLack
	judged := uptime
	if early {
		judged = 0
	}
	ended, keep := endedWords(why, ready)
	log := w.log.With("pid", pid, "wid", s.wid, "reason", why, "uptime", uptime)
	switch {
	case strings.HasPrefix(why, spawnErrorPrefix):
		log = w.log.With("wid", s.wid, "reason", w.sayOnce(why))
	case ready:
		log = log.With("early_window", w.policy.Early)
	}
	warn := w.warnFor(s, log)
	if !w.spec.Respawn {
		w.setHold(s, HoldExited, time.Time{})
		if s.badExit {
			log.Warn("worker failed; respawn is off, so its slot stays empty")
		} else { // a one-shot's worker that ended as configured
			log.Info("worker ended; respawn is off, so its slot stays empty")
		}
		return
	}
	s.restarts++
	w.countRestart(restartCause(s.lastCode, why), s.wid, pid, why)
	c, v := w.policy.Next(s.counters, judged)
	if v.Action == GiveUp && shared != "" {
		// The cause is not the slot's: giving up would leave the slot
		// empty once the cause is gone.
		c, v = Counters{Pauses: c.Pauses}, Verdict{Action: Pause, Delay: w.policy.RetryIn}
		warn(shared + ": pausing this slot again rather than giving up on it")
	}
	w.setCounters(s, c)
	now := w.host.Now()
	switch v.Action {
	case Respawn:
		log.Warn("worker ended; replacing it")
		w.setHold(s, HoldDue, time.Time{})
	case BackOff:
		w.setHold(s, HoldBackoff, now.Add(v.Delay))
		w.host.After(v.Delay, Timer{Watcher: w.id, Kind: TimerRespawn, Wid: s.wid, Gen: s.epoch})
		warn(ended+"; restarting its slot after a delay", "delay", v.Delay, "in_a_row", s.counters.Streak)
		w.host.Publish(w.spec.Name, events.KindBackoff, map[string]any{
			"process_id": s.wid, "delay": v.Delay.Seconds(), "failures": s.counters.Streak, "reason": why,
		})
	case Pause:
		w.setHold(s, HoldPaused, now.Add(v.Delay))
		w.host.After(v.Delay, Timer{Watcher: w.id, Kind: TimerFlapRetry, Wid: s.wid, Gen: s.epoch})
		warn("slot is flapping: "+keep+"; pausing it (other workers keep running)",
			"pause", v.Delay, "pauses", s.counters.Pauses, "max", w.policy.MaxRetry)
		w.host.Publish(w.spec.Name, events.KindFlapping, map[string]any{
			"process_id": s.wid, "reason": why, "retries": s.counters.Pauses, "retry_in": v.Delay.Seconds(), "gave_up": false,
		})
	case GiveUp:
		w.setHold(s, HoldFailed, time.Time{})
		log.Error("slot failed: "+keep+"; giving up on it until the watcher is started or reloaded (other workers keep running)",
			"pauses", s.counters.Pauses)
		w.host.Publish(w.spec.Name, events.KindFailed, map[string]any{"process_id": s.wid, "reason": why})
	}
}

// sayOnce is why, the spawn error of one of the watcher's slots, for the
// log: a program not found in PATH names PATH's value the first time,
// and again only once it changed; the other times the short form (a
// crash loop's attempts each repeated a PATH of hundreds of characters).
// The status and the events keep why whole.
func (w *Watcher) sayOnce(why string) string {
	short, path, ok := launch.WithoutPath(why)
	if !ok {
		return why
	}
	if w.pathSaid != nil && *w.pathSaid == path {
		return short
	}
	w.pathSaid = &path
	return why
}
