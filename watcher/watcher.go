// Package watcher runs one named pool of identical worker processes: its
// spec, its process records, its state machine and its restart policy.
//
// Concurrency: a Watcher has no lock and no goroutine of its own. The
// arbiter's event loop owns it and is the only caller of its methods; the
// watcher acts on the world only through the Host the loop gives it
// (spawning, signalling, timers, events), which is what lets tests drive
// it with a fake host and an injected clock.
//
// Watcher status:
//
//	          Start                 all spawned
//	stopped ─────────▶ starting ───────────────▶ active
//	   ▲                                           │ Stop
//	   │          last process reaped              ▼
//	   └──────────────────────────────────────── stopping
//
// (flapping is shown instead of starting/active while workers keep dying.)
//
// Process state:
//
//	starting ──(readiness: spawn, delay, notify, tcp/http probe)──▶ ready
//	   │                                                             │
//	   └─(not ready in time: a failed start)─▶ stopping ◀─(retire)──┘
//	stopping ──(reaped; SIGKILL of its group at the grace deadline)──▶ gone
//
// Replacements (reload, max_age, failed health check, resource limit) go
// through one rolling path: the new worker starts first, the old one
// retires once the new one is ready.
package watcher

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/probe"
)

// Status is a watcher's state as the control protocol reports it.
type Status string

// Watcher statuses. Flapping is poold's addition: workers keep dying, so
// their slots wait out a pause (or, after too many pauses, stay empty);
// healthy workers keep running.
const (
	Stopped  Status = "stopped"
	Starting Status = "starting"
	Active   Status = "active"
	Stopping Status = "stopping"
	Flapping Status = "flapping"
)

// Process states.
const (
	ProcStarting = "starting" // spawned, not yet proven ready
	ProcReady    = "ready"
	ProcStopping = "stopping"
)

// Host is what the arbiter's loop lends a watcher to act on the world.
type Host interface {
	Now() time.Time
	// Spawn starts a worker; the host arranges for its exit to come back
	// through Watcher.Exited and for its output to be logged.
	Spawn(watcher string, wid int, spec ProcSpec) (pid int, err error)
	// Signal sends sig to the process group led by pid.
	Signal(pid int, sig syscall.Signal) error
	// After delivers t to Watcher.Fire after d, on the loop.
	After(d time.Duration, t Timer)
	// Check runs fn off the loop with a deadline of timeout and delivers
	// its outcome to Watcher.Checked, on the loop.
	Check(c Check, timeout time.Duration, fn func(ctx context.Context) error)
	// Publish emits a lifecycle event for watcher.
	Publish(watcher, kind string, fields map[string]any)
}

// Check identifies a probe run for one process.
type Check struct {
	Watcher string
	Kind    CheckKind
	Pid     int
	Gen     uint64
}

// CheckKind says what a Check was for.
type CheckKind int

// Check kinds.
const (
	CheckReady  CheckKind = iota + 1 // readiness probe (tcp/http), polled until ready_timeout
	CheckHealth                      // one health probe
)

// Timer is a deferred action for a watcher. Gen ties it to the state that
// armed it: a timer whose generation no longer matches is stale and ignored.
type Timer struct {
	Watcher string
	Kind    TimerKind
	Pid     int
	Wid     int
	Gen     uint64
}

// TimerKind says what a Timer does when it fires.
type TimerKind int

// Timer kinds.
const (
	TimerKill         TimerKind = iota + 1 // grace period over: SIGKILL the group
	TimerRespawn                           // backoff over: start the slot again
	TimerReadyDelay                        // readiness "delay": alive long enough
	TimerReadyTimeout                      // not ready in time: a failed start
	TimerMaxAge                            // recycle an old worker
	TimerFlapRetry                         // flapping pause over
	TimerHealth                            // time for the next health round
	TimerWarmup                            // warmup_delay over: the next worker may start
)

// Sockets are the listening sockets a watcher's workers inherit, and the
// notify socket they report readiness on.
type Sockets struct {
	Files  []*os.File     // at fds 3, 4, ...
	Env    []string       // LISTEN_FDS, LISTEN_FDNAMES
	FDs    map[string]int // name -> fd, for $(pool.sockets.NAME)
	Notify string         // NOTIFY_SOCKET for readiness "notify"
}

// Process is one worker as the watcher knows it.
type Process struct {
	Pid      int
	Wid      int
	State    string
	Started  time.Time
	Restarts int // how many times this slot was started again after a death
	Gen      int // the spec generation it was started with
	// Recycle marks a worker to be replaced through the rolling path
	// (max_age, failed health check, over a resource limit).
	Recycle bool

	gen      uint64 // ties timers and checks to this process
	healthKO int    // failed health checks in a row
	limitKO  int    // stats samples over a limit in a row
}

func (p *Process) old(specGen int) bool { return p.Gen != specGen || p.Recycle }

// Watcher is one pool.
type Watcher struct {
	spec    configs.Watcher
	socks   Sockets
	host    Host
	log     hclog.Logger
	backoff Backoff
	cred    *syscall.Credential

	status   Status
	specGen  int              // bumped by Reload: older processes are replaced
	procs    map[int]*Process // by pid
	pending  map[int]uint64   // wid -> respawn timer generation (0: paused by flapping)
	failures map[int]int      // wid -> consecutive quick failures
	restarts map[int]int      // wid -> restarts
	dead     map[int]bool     // slots left empty: respawn off, or flapping gave up
	gen      uint64
	waiters  []func()
	prefer   []int // wids to fill first: a replaced worker keeps its wid

	// Rolling reload: the spec the old workers run, to fall back to
	// when the new one fails; surge overrides MaxSurge for one reload.
	prev      *configs.Watcher
	prevSocks Sockets
	prevGen   int
	surge     int
	reloadErr error

	// Flapping.
	exits      []time.Time
	flapping   bool
	flapRounds int
	gaveUp     bool
	flapGen    uint64
	healthGen  uint64
	warmupGen  uint64 // non-zero while warmup_delay holds back the next spawn

	lastSpawnErr error
}

// New builds a watcher from its spec. It checks what can only be checked on
// this machine (user and group) and does nothing else.
func New(spec configs.Watcher, socks Sockets, host Host, log hclog.Logger) (*Watcher, error) {
	w := &Watcher{
		host:     host,
		log:      log.With("watcher", spec.Name),
		status:   Stopped,
		procs:    make(map[int]*Process),
		pending:  make(map[int]uint64),
		failures: make(map[int]int),
		restarts: make(map[int]int),
		dead:     make(map[int]bool),
	}
	if err := w.setSpec(spec, socks); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *Watcher) setSpec(spec configs.Watcher, socks Sockets) error {
	cred, err := spec.Credential()
	if err != nil {
		return err
	}
	w.spec, w.socks, w.cred = spec, socks, cred
	w.backoff = Backoff{Min: spec.BackoffMin, Max: spec.BackoffMax, Reset: spec.BackoffReset, Jitter: 0.1}
	return nil
}

// Name is the watcher's configured name.
func (w *Watcher) Name() string { return w.spec.Name }

// Spec is the watcher's current configuration.
func (w *Watcher) Spec() configs.Watcher { return w.spec }

// Status is the watcher's current status.
func (w *Watcher) Status() Status {
	if (w.flapping || w.gaveUp) && (w.status == Active || w.status == Starting) {
		return Flapping
	}
	return w.status
}

// Reason explains a flapping status or a failed reload; "" when all is well.
func (w *Watcher) Reason() string {
	switch {
	case w.gaveUp:
		return fmt.Sprintf("workers kept exiting: gave up after %d retries; fix the cause, then start or reload the watcher", w.spec.FlappingMaxRetry)
	case w.flapping:
		return fmt.Sprintf("workers exited %d times within %v; retrying in %v (retry %d of %d)",
			len(w.exits), w.spec.FlappingWindow, w.spec.FlappingRetryIn, w.flapRounds, w.spec.FlappingMaxRetry)
	case w.reloadErr != nil:
		return w.reloadErr.Error()
	}
	return ""
}

// ReloadError is why the last rolling reload was abandoned, nil if it was
// not.
func (w *Watcher) ReloadError() error { return w.reloadErr }

// Target is the number of workers the watcher keeps.
func (w *Watcher) Target() int { return w.spec.NumProcesses }

// Processes returns the live processes sorted by wid, then pid.
func (w *Watcher) Processes() []Process {
	out := make([]Process, 0, len(w.procs))
	for _, p := range w.procs {
		out = append(out, *p)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Wid != out[j].Wid {
			return out[i].Wid < out[j].Wid
		}
		return out[i].Pid < out[j].Pid
	})
	return out
}

// Pids returns the pids of live processes, sorted.
func (w *Watcher) Pids() []int {
	pids := make([]int, 0, len(w.procs))
	for pid := range w.procs {
		pids = append(pids, pid)
	}
	sort.Ints(pids)
	return pids
}

// Has reports whether pid is one of this watcher's live processes.
func (w *Watcher) Has(pid int) bool { _, ok := w.procs[pid]; return ok }

// Sockets are the sockets the workers inherit.
func (w *Watcher) Sockets() Sockets { return w.socks }

// Settled reports whether nothing is in flight: a stopped watcher has no
// process; a running one has exactly its target of current, ready workers
// (counting slots waiting out a backoff or left empty) and nothing
// starting, stopping or due for replacement.
func (w *Watcher) Settled() bool {
	switch w.status {
	case Stopped:
		return len(w.procs) == 0
	case Active, Starting:
		ready := 0
		for _, p := range w.procs {
			if p.State != ProcReady || p.old(w.specGen) {
				return false
			}
			ready++
		}
		return ready+len(w.pending)+len(w.dead) == w.spec.NumProcesses
	}
	return false
}

// WhenSettled calls fn (on the loop) once the watcher is settled, at once
// if it already is.
func (w *Watcher) WhenSettled(fn func()) {
	w.waiters = append(w.waiters, fn)
	w.fireWaiters()
}

func (w *Watcher) fireWaiters() {
	if len(w.waiters) == 0 || !w.Settled() {
		return
	}
	ws := w.waiters
	w.waiters = nil
	for _, fn := range ws {
		fn()
	}
}

// Start starts the workers of a stopped watcher. It also clears a flapping
// give-up: starting is the user saying "try again".
func (w *Watcher) Start() {
	w.clearFlapping()
	if w.status == Active || w.status == Starting {
		w.reconcile()
		return
	}
	w.status = Starting
	w.dead = make(map[int]bool)
	w.host.Publish(w.spec.Name, "start", nil)
	w.armHealth()
	w.reconcile()
}

func (w *Watcher) clearFlapping() {
	w.exits = nil
	w.flapRounds = 0
	if w.flapping || w.gaveUp {
		w.flapping, w.gaveUp = false, false
		for wid, g := range w.pending {
			if g == 0 {
				delete(w.pending, wid)
			}
		}
		w.dead = make(map[int]bool)
	}
}

// Stop gracefully stops every worker: stop signal to each process group,
// then SIGKILL at the graceful timeout.
func (w *Watcher) Stop() {
	if w.status == Stopped && len(w.procs) == 0 {
		w.fireWaiters()
		return
	}
	w.status = Stopping
	w.pending = make(map[int]uint64)
	w.endReload(nil)
	for _, p := range w.procs {
		w.retire(p)
	}
	w.finishStop()
}

// Kill sends SIGKILL to every worker's process group at once (second
// SIGTERM to poold, or the kill command without grace).
func (w *Watcher) Kill() {
	w.status = Stopping
	w.pending = make(map[int]uint64)
	w.endReload(nil)
	for _, p := range w.procs {
		p.State = ProcStopping
		w.signal(p, syscall.SIGKILL)
	}
	w.finishStop()
}

func (w *Watcher) finishStop() {
	if w.status == Stopping && len(w.procs) == 0 {
		w.status = Stopped
		w.clearFlapping()
		w.host.Publish(w.spec.Name, "stop", nil)
	}
	w.fireWaiters()
}

// SetTarget changes the number of workers; extra ones are retired
// gracefully, highest wid first.
func (w *Watcher) SetTarget(n int) {
	if n < 0 {
		n = 0
	}
	w.spec.NumProcesses = n
	for wid := range w.dead {
		if wid > n {
			delete(w.dead, wid)
		}
	}
	w.reconcile()
}

// Reload replaces every worker. Graceful: a rolling replacement in batches
// of max_surge (sequential: one at a time), each batch proven ready before
// as many old workers stop; if a new worker fails, the reload stops and the
// old workers keep serving. Not graceful: stop all, then start. With
// send_hup the workers get SIGHUP instead and reload themselves.
func (w *Watcher) Reload(graceful, sequential bool) {
	w.host.Publish(w.spec.Name, "reload", nil)
	w.clearFlapping()
	if w.status != Active && w.status != Starting {
		w.Start()
		return
	}
	if w.spec.SendHUP {
		for _, p := range w.procs {
			if p.State != ProcStopping {
				_ = w.host.Signal(p.Pid, syscall.SIGHUP)
			}
		}
		w.fireWaiters()
		return
	}
	if !graceful {
		w.Stop()
		w.WhenSettled(w.Start)
		return
	}
	w.beginRoll(w.spec, w.socks)
	if sequential {
		w.surge = 1
	}
	w.reconcile()
}

// beginRoll remembers what the old workers run and starts a new spec
// generation.
func (w *Watcher) beginRoll(oldSpec configs.Watcher, oldSocks Sockets) {
	if w.prev == nil {
		spec := oldSpec
		w.prev, w.prevSocks, w.prevGen = &spec, oldSocks, w.specGen
	}
	w.reloadErr = nil
	w.surge = 0
	w.specGen++
}

// endReload ends a rolling reload; err != nil abandons it.
func (w *Watcher) endReload(err error) {
	w.prev = nil
	w.surge = 0
	if err != nil {
		w.reloadErr = err
	}
}

// Update replaces the spec (config reload, set). A change of the number of
// processes alone scales; any other change that affects how workers are
// started rolls them over gracefully when the watcher runs.
func (w *Watcher) Update(spec configs.Watcher, socks Sockets) error {
	old, oldSocks := w.spec, w.socks
	if err := w.setSpec(spec, socks); err != nil {
		return err
	}
	w.host.Publish(w.spec.Name, "updated", nil)
	old.NumProcesses = spec.NumProcesses
	if w.status == Active || w.status == Starting {
		if !sameStartup(old, spec) || !SameFiles(oldSocks.Files, socks.Files) {
			w.clearFlapping()
			w.beginRoll(old, oldSocks)
		}
		w.armHealth()
	}
	w.reconcile()
	return nil
}

// SameFiles reports whether two socket handoffs pass the very same files.
func SameFiles(a, b []*os.File) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// sameStartup reports whether two specs start workers identically.
func sameStartup(a, b configs.Watcher) bool {
	return fmt.Sprintf("%v", startupKey(a)) == fmt.Sprintf("%v", startupKey(b))
}

func startupKey(s configs.Watcher) []any {
	return []any{s.Cmd, s.Args, s.Env, s.CopyEnv, s.WorkingDir, s.UID, s.GID, s.Umask, s.Rlimits, s.Sockets, s.UseSockets,
		s.Readiness, s.ReadyAddress, s.ReadyURL}
}

// Exited is called by the loop when a worker's process has been reaped.
// exitCode is the exit status, or minus the signal number that killed it.
func (w *Watcher) Exited(pid, exitCode int) {
	p, ok := w.procs[pid]
	if !ok {
		return
	}
	delete(w.procs, pid)
	w.host.Publish(w.spec.Name, "reap", map[string]any{
		"process_pid": pid, "process_id": p.Wid, "exit_code": exitCode,
	})
	log := w.log.With("pid", pid, "wid", p.Wid, "exit_code", exitCode)
	if p.State == ProcStopping || w.status == Stopping || w.status == Stopped {
		log.Debug("worker stopped")
		w.finishStop()
		w.reconcile()
		return
	}
	uptime := w.host.Now().Sub(p.Started)
	if p.State == ProcStarting && w.prev != nil && p.Gen == w.specGen {
		w.abortReload(fmt.Errorf("new worker pid %d (wid %d) exited with %s before it was ready", pid, p.Wid, describeExit(exitCode)))
		return
	}
	w.unexpectedExit(p, uptime, fmt.Sprintf("exited with %s", describeExit(exitCode)))
}

func describeExit(code int) string {
	if code < 0 {
		return "signal " + configs.SignalName(syscall.Signal(-code))
	}
	return "status " + strconv.Itoa(code)
}

// unexpectedExit handles a slot whose worker died on its own (or failed
// its readiness): restart with backoff, and watch for flapping.
func (w *Watcher) unexpectedExit(p *Process, uptime time.Duration, why string) {
	log := w.log.With("pid", p.Pid, "wid", p.Wid)
	w.failures[p.Wid] = w.backoff.Failures(w.failures[p.Wid], uptime)
	if uptime >= w.backoff.Reset {
		w.flapRounds = 0
	}
	if !w.spec.Respawn {
		log.Warn("worker "+why+"; respawn is off, its slot stays empty", "uptime", uptime)
		w.dead[p.Wid] = true
		w.fireWaiters()
		return
	}
	w.restarts[p.Wid]++
	if w.noteExit() {
		w.pending[p.Wid] = 0 // waits for the flapping pause to end
		w.fireWaiters()
		return
	}
	delay := w.backoff.Delay(w.failures[p.Wid])
	if delay > 0 && !p.old(w.specGen) {
		log.Warn("worker "+why+" soon after start; restarting after a delay",
			"uptime", uptime, "delay", delay, "failures", w.failures[p.Wid])
		w.gen++
		w.pending[p.Wid] = w.gen
		w.host.After(delay, Timer{Watcher: w.spec.Name, Kind: TimerRespawn, Wid: p.Wid, Gen: w.gen})
		w.host.Publish(w.spec.Name, "backoff", map[string]any{
			"process_id": p.Wid, "delay": delay.Seconds(), "failures": w.failures[p.Wid],
		})
		w.fireWaiters()
		return
	}
	log.Warn("worker "+why+"; restarting", "uptime", uptime)
	w.prefer = append(w.prefer, p.Wid)
	w.reconcile()
}

// noteExit records an unexpected exit for flapping detection and reports
// whether respawns are now paused.
func (w *Watcher) noteExit() bool {
	if w.spec.FlappingAttempts <= 0 {
		return false
	}
	if w.flapping || w.gaveUp {
		return true
	}
	now := w.host.Now()
	w.exits = append(w.exits, now)
	for len(w.exits) > 0 && now.Sub(w.exits[0]) > w.spec.FlappingWindow {
		w.exits = w.exits[1:]
	}
	if len(w.exits) < w.spec.FlappingAttempts {
		return false
	}
	w.flapRounds++
	if w.flapRounds > w.spec.FlappingMaxRetry {
		w.gaveUp = true
		reason := w.Reason()
		w.log.Error("watcher is flapping; giving up on its failing slots (healthy workers keep running)", "reason", reason)
		w.host.Publish(w.spec.Name, "flapping", map[string]any{"reason": reason, "retries": w.flapRounds - 1, "gave_up": true})
		for wid, g := range w.pending {
			if g == 0 {
				delete(w.pending, wid)
				w.dead[wid] = true
			}
		}
		return true
	}
	w.flapping = true
	reason := w.Reason()
	w.log.Warn("watcher is flapping; pausing restarts of failing slots", "reason", reason)
	w.host.Publish(w.spec.Name, "flapping", map[string]any{"reason": reason, "retries": w.flapRounds, "gave_up": false})
	w.gen++
	w.flapGen = w.gen
	w.host.After(w.spec.FlappingRetryIn, Timer{Watcher: w.spec.Name, Kind: TimerFlapRetry, Gen: w.gen})
	return true
}

// Fire handles a timer armed by this watcher.
func (w *Watcher) Fire(t Timer) {
	switch t.Kind {
	case TimerKill:
		p, ok := w.procs[t.Pid]
		if !ok || p.gen != t.Gen || p.State != ProcStopping {
			return
		}
		w.log.Warn("worker did not stop within graceful_timeout; killing its process group",
			"pid", p.Pid, "wid", p.Wid, "graceful_timeout", w.spec.GracefulTimeout)
		w.signal(p, syscall.SIGKILL)
	case TimerRespawn:
		if g, ok := w.pending[t.Wid]; !ok || g != t.Gen {
			return
		}
		delete(w.pending, t.Wid)
		w.prefer = append(w.prefer, t.Wid)
		w.reconcile()
	case TimerReadyDelay:
		if p, ok := w.procs[t.Pid]; ok && p.gen == t.Gen && p.State == ProcStarting {
			w.ready(p)
		}
	case TimerReadyTimeout:
		p, ok := w.procs[t.Pid]
		if !ok || p.gen != t.Gen || p.State != ProcStarting {
			return
		}
		w.notReady(p, fmt.Errorf("not ready within ready_timeout %v (readiness %s)", w.spec.ReadyTimeout, w.spec.Readiness))
	case TimerMaxAge:
		if p, ok := w.procs[t.Pid]; ok && p.gen == t.Gen && p.State == ProcReady && !p.Recycle {
			w.log.Info("worker reached max_age; replacing it", "pid", p.Pid, "wid", p.Wid)
			w.recycle(p, "max_age")
		}
	case TimerFlapRetry:
		if !w.flapping || t.Gen != w.flapGen {
			return
		}
		w.flapping = false
		w.exits = nil
		for wid, g := range w.pending {
			if g == 0 {
				delete(w.pending, wid)
			}
		}
		w.log.Info("flapping pause over; restarting the failing slots", "retry", w.flapRounds)
		w.reconcile()
	case TimerWarmup:
		if t.Gen != w.warmupGen {
			return
		}
		w.warmupGen = 0
		w.reconcile()
	case TimerHealth:
		if t.Gen != w.healthGen || (w.status != Active && w.status != Starting) {
			return
		}
		w.healthRound()
		w.host.After(w.spec.HealthInterval, t)
	}
}

// Ready marks a worker ready (readiness notify: READY=1 from it or its
// process group).
func (w *Watcher) Ready(pid int) {
	if p, ok := w.procs[pid]; ok && p.State == ProcStarting {
		w.ready(p)
	}
}

func (w *Watcher) ready(p *Process) {
	p.State = ProcReady
	w.failures[p.Wid] = 0
	w.host.Publish(w.spec.Name, "ready", map[string]any{"process_pid": p.Pid, "process_id": p.Wid})
	if w.spec.MaxAge > 0 {
		age := w.spec.MaxAge
		if w.spec.MaxAgeVariance > 0 {
			age += time.Duration(rand.Int64N(int64(w.spec.MaxAgeVariance)))
		}
		w.host.After(age, Timer{Watcher: w.spec.Name, Kind: TimerMaxAge, Pid: p.Pid, Wid: p.Wid, Gen: p.gen})
	}
	w.reconcile()
}

// notReady handles a worker that failed its readiness: it is stopped; in a
// rolling reload the reload is abandoned, otherwise its slot restarts with
// backoff like a crash.
func (w *Watcher) notReady(p *Process, err error) {
	w.log.Warn("worker failed to become ready; stopping it", "pid", p.Pid, "wid", p.Wid, "error", err)
	w.host.Publish(w.spec.Name, "unhealthy", map[string]any{"process_pid": p.Pid, "process_id": p.Wid, "reason": err.Error()})
	if w.prev != nil && p.Gen == w.specGen {
		w.abortReload(fmt.Errorf("new worker pid %d (wid %d): %v", p.Pid, p.Wid, err))
		return
	}
	w.retire(p)
	w.unexpectedExit(p, w.host.Now().Sub(p.Started), "was not ready in time")
}

// abortReload abandons a rolling reload: the new workers stop, the old
// spec comes back, the old workers keep serving and the reason is told.
func (w *Watcher) abortReload(err error) {
	w.log.Error("rolling reload abandoned; the old workers keep serving", "error", err)
	w.host.Publish(w.spec.Name, "reload_failed", map[string]any{"reason": err.Error()})
	for _, p := range w.procs {
		if p.Gen == w.specGen && !p.Recycle {
			w.retire(p)
		}
	}
	w.spec, w.socks, w.specGen = *w.prev, w.prevSocks, w.prevGen
	_ = w.setSpec(w.spec, w.socks)
	w.endReload(fmt.Errorf("reload of watcher %q abandoned: %w", w.spec.Name, err))
	w.reconcile()
}

// Checked receives the outcome of a probe the watcher asked for.
func (w *Watcher) Checked(c Check, err error) {
	p, ok := w.procs[c.Pid]
	if !ok || p.gen != c.Gen {
		return
	}
	switch c.Kind {
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
		if p.State != ProcReady || p.Recycle {
			return
		}
		if err == nil {
			p.healthKO = 0
			return
		}
		p.healthKO++
		w.log.Warn("health check failed", "pid", p.Pid, "wid", p.Wid, "failures", p.healthKO, "threshold", w.spec.HealthThreshold, "error", err)
		if p.healthKO >= w.spec.HealthThreshold {
			w.host.Publish(w.spec.Name, "unhealthy", map[string]any{"process_pid": p.Pid, "process_id": p.Wid, "reason": err.Error()})
			w.recycle(p, "health check: "+err.Error())
		}
	}
}

// Sampled receives one stats sample of a worker and replaces it when it
// has been over max_rss or max_cpu for limit_threshold samples in a row.
func (w *Watcher) Sampled(pid int, rss uint64, cpu float64) {
	p, ok := w.procs[pid]
	if !ok || p.State != ProcReady || p.Recycle {
		return
	}
	var over string
	switch {
	case w.spec.MaxRSS > 0 && rss > w.spec.MaxRSS:
		over = fmt.Sprintf("rss %d bytes over max_rss %d", rss, w.spec.MaxRSS)
	case w.spec.MaxCPU > 0 && cpu > w.spec.MaxCPU:
		over = fmt.Sprintf("cpu %.1f%% over max_cpu %.1f%%", cpu, w.spec.MaxCPU)
	}
	if over == "" {
		p.limitKO = 0
		return
	}
	p.limitKO++
	if p.limitKO >= w.spec.LimitThreshold {
		w.log.Warn("worker over its resource limit; replacing it", "pid", p.Pid, "wid", p.Wid, "limit", over, "samples", p.limitKO)
		w.host.Publish(w.spec.Name, "unhealthy", map[string]any{"process_pid": p.Pid, "process_id": p.Wid, "reason": over})
		w.recycle(p, over)
	}
}

// recycle replaces one worker through the rolling path: its replacement
// starts first and it retires once that one is ready.
func (w *Watcher) recycle(p *Process, why string) {
	p.Recycle = true
	w.host.Publish(w.spec.Name, "recycle", map[string]any{"process_pid": p.Pid, "process_id": p.Wid, "reason": why})
	w.reconcile()
}

func (w *Watcher) armHealth() {
	w.healthGen++
	if w.spec.HealthCheck == "" {
		return
	}
	w.host.After(w.spec.HealthInterval, Timer{Watcher: w.spec.Name, Kind: TimerHealth, Gen: w.healthGen})
}

func (w *Watcher) healthRound() {
	for _, p := range w.procs {
		if p.State != ProcReady || p.Recycle {
			continue
		}
		pr, err := w.probe(w.spec.HealthCheck, w.spec.HealthURL, w.spec.HealthAddress, w.spec.HealthCmd, p)
		if err != nil {
			w.log.Error("health check cannot run", "error", err)
			return
		}
		w.host.Check(Check{Watcher: w.spec.Name, Kind: CheckHealth, Pid: p.Pid, Gen: p.gen}, w.spec.HealthTimeout, pr.Check)
	}
}

// probe builds the probe of kind for p, with its variables expanded.
func (w *Watcher) probe(kind, url, address, cmd string, p *Process) (probe.Probe, error) {
	vars := w.vars(p.Wid, "")
	switch kind {
	case "http":
		return probe.HTTP(configs.Expand(url, vars)), nil
	case "tcp":
		return probe.TCP(configs.Expand(address, vars)), nil
	case "exec":
		env := w.env()
		for i, kv := range env {
			env[i] = configs.Expand(kv, vars)
		}
		env = append(env, "POOLD_PID="+strconv.Itoa(p.Pid), "POOLD_WID="+strconv.Itoa(p.Wid), "POOLD_WATCHER="+w.spec.Name)
		return probe.Exec(configs.Expand(cmd, vars), env), nil
	}
	return nil, fmt.Errorf("unknown probe kind %q", kind)
}

// Signal sends sig to one worker's process group, or to all when pid is 0.
func (w *Watcher) Signal(pid int, sig syscall.Signal) error {
	if pid != 0 {
		p, ok := w.procs[pid]
		if !ok {
			return fmt.Errorf("watcher %q has no process with pid %d", w.spec.Name, pid)
		}
		return w.host.Signal(p.Pid, sig)
	}
	var first error
	for _, p := range w.procs {
		if err := w.host.Signal(p.Pid, sig); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// KillProcess stops one worker (grace < 0: configured timeout; 0: SIGKILL
// at once). It is replaced like any worker that died.
func (w *Watcher) KillProcess(pid int, sig syscall.Signal, grace time.Duration) error {
	p, ok := w.procs[pid]
	if !ok {
		return fmt.Errorf("watcher %q has no process with pid %d", w.spec.Name, pid)
	}
	if grace < 0 {
		grace = w.spec.GracefulTimeout
	}
	if grace == 0 {
		sig = syscall.SIGKILL
	}
	// Marked stopping, it is replaced at once instead of after a backoff.
	p.State = ProcStopping
	w.signal(p, sig)
	w.armKill(p, grace)
	return nil
}

// Reconcile re-checks the pool against its target. The loop calls it on a
// slow tick as a safety net; every real transition reconciles by itself.
func (w *Watcher) Reconcile() { w.reconcile() }

// reconcile brings the pool towards its target. Missing slots are spawned,
// lowest free wid first. Workers due for replacement (older spec, or
// marked for recycling) are replaced through the rolling path: at most
// surge new workers are started beyond the target, and an old worker
// retires only as a new one becomes ready, so serving capacity never drops
// below the target.
func (w *Watcher) reconcile() {
	defer w.fireWaiters()
	if w.status != Active && w.status != Starting {
		return
	}
	target := w.spec.NumProcesses
	var cur, old []*Process
	used := make(map[int]bool)
	readyCur := 0
	for _, p := range w.procs {
		if p.State == ProcStopping {
			continue
		}
		if p.old(w.specGen) {
			// A worker being replaced keeps its wid until it retires; its
			// replacement takes a free one (PROTOCOL.md: up to 2N), so
			// per-wid resources such as a probe port do not collide.
			old = append(old, p)
			used[p.Wid] = true
			continue
		}
		cur = append(cur, p)
		used[p.Wid] = true
		if p.State == ProcReady {
			readyCur++
		}
	}
	for wid := range w.pending {
		used[wid] = true
	}
	for wid := range w.dead {
		used[wid] = true
	}
	held := len(w.pending) + len(w.dead)
	// Too many current workers: retire the highest slots, starting ones first.
	for wid := range w.pending {
		if len(cur)+held > target && wid > target {
			delete(w.pending, wid)
			held--
		}
	}
	sort.Slice(cur, func(i, j int) bool {
		if (cur[i].State == ProcStarting) != (cur[j].State == ProcStarting) {
			return cur[i].State == ProcStarting
		}
		return cur[i].Wid > cur[j].Wid
	})
	for len(cur)+held > target && len(cur) > 0 {
		if cur[0].State == ProcReady {
			readyCur--
		}
		w.retire(cur[0])
		cur = cur[1:]
	}
	// Spawn missing slots. While old workers remain, stay within the surge.
	surge := w.spec.MaxSurge
	if w.surge > 0 {
		surge = w.surge
	}
	if surge < 1 {
		surge = 1
	}
	prefer := w.prefer
	w.prefer = nil
	for i, seq := 0, 0; len(cur)+held < target; i++ {
		if len(old) > 0 && len(cur)+held+len(old) >= target+surge {
			break
		}
		if w.warmupGen != 0 {
			break // warmup_delay: the timer resumes spawning
		}
		wid := 0
		if i < len(prefer) {
			wid = prefer[i]
		} else {
			seq++
			wid = seq
		}
		if used[wid] {
			continue
		}
		used[wid] = true
		p := w.spawn(wid)
		if p == nil {
			held++ // the slot now waits in pending
			continue
		}
		cur = append(cur, p)
		if p.State == ProcReady {
			readyCur++
		}
		if w.spec.WarmupDelay > 0 {
			w.gen++
			w.warmupGen = w.gen
			w.host.After(w.spec.WarmupDelay, Timer{Watcher: w.spec.Name, Kind: TimerWarmup, Gen: w.gen})
		}
	}
	// Retire old workers as new ones are ready to take their place:
	// recycled ones first, then the highest wids.
	sort.Slice(old, func(i, j int) bool {
		if old[i].Recycle != old[j].Recycle {
			return old[i].Recycle
		}
		return old[i].Wid > old[j].Wid
	})
	retired := false
	for len(old) > 0 && len(old)+readyCur+held > target {
		w.retire(old[0])
		old = old[1:]
		retired = true
	}
	if retired && len(old) > 0 {
		// Their places are free for the next batch: a batch waits for
		// the new workers to be ready, not for the old ones to drain.
		w.reconcile()
		return
	}
	if len(old) == 0 && w.prev != nil && readyCur+held == target {
		w.endReload(nil)
		w.log.Info("rolling reload done")
	}
	if w.status == Starting && readyCur+held == target {
		w.status = Active
	}
}

func (w *Watcher) spawn(wid int) *Process {
	spec, err := w.procSpec(wid)
	var pid int
	if err == nil {
		pid, err = w.host.Spawn(w.spec.Name, wid, spec)
	}
	if err != nil {
		w.lastSpawnErr = err
		w.failures[wid]++
		delay := w.backoff.Delay(w.failures[wid])
		w.log.Error("cannot start worker; retrying after a delay", "wid", wid, "error", err, "delay", delay)
		w.gen++
		w.pending[wid] = w.gen
		w.host.After(delay, Timer{Watcher: w.spec.Name, Kind: TimerRespawn, Wid: wid, Gen: w.gen})
		w.host.Publish(w.spec.Name, "spawn_error", map[string]any{"process_id": wid, "reason": err.Error(), "delay": delay.Seconds()})
		return nil
	}
	w.lastSpawnErr = nil
	w.gen++
	p := &Process{Pid: pid, Wid: wid, State: ProcStarting, Started: w.host.Now(), Gen: w.specGen, Restarts: w.restarts[wid], gen: w.gen}
	w.procs[pid] = p
	w.host.Publish(w.spec.Name, "spawn", map[string]any{"process_pid": pid, "process_id": wid})
	w.watchReady(p)
	return p
}

// watchReady starts whatever tells that p is ready.
func (w *Watcher) watchReady(p *Process) {
	timeout := Timer{Watcher: w.spec.Name, Kind: TimerReadyTimeout, Pid: p.Pid, Wid: p.Wid, Gen: p.gen}
	switch w.spec.Readiness {
	case "", "spawn":
		p.State = ProcReady
		w.host.Publish(w.spec.Name, "ready", map[string]any{"process_pid": p.Pid, "process_id": p.Wid})
		if w.spec.MaxAge > 0 {
			age := w.spec.MaxAge
			if w.spec.MaxAgeVariance > 0 {
				age += time.Duration(rand.Int64N(int64(w.spec.MaxAgeVariance)))
			}
			w.host.After(age, Timer{Watcher: w.spec.Name, Kind: TimerMaxAge, Pid: p.Pid, Wid: p.Wid, Gen: p.gen})
		}
	case "delay":
		w.host.After(w.spec.ReadyDelay, Timer{Watcher: w.spec.Name, Kind: TimerReadyDelay, Pid: p.Pid, Wid: p.Wid, Gen: p.gen})
	case "notify":
		w.host.After(w.spec.ReadyTimeout, timeout)
	case "tcp", "http":
		pr, err := w.probe(w.spec.Readiness, w.spec.ReadyURL, w.spec.ReadyAddress, "", p)
		if err != nil {
			w.log.Error("readiness probe cannot run", "error", err)
			return
		}
		w.host.Check(Check{Watcher: w.spec.Name, Kind: CheckReady, Pid: p.Pid, Gen: p.gen}, w.spec.ReadyTimeout,
			func(ctx context.Context) error { return probe.Poll(ctx, pr, 50*time.Millisecond) })
	}
}

// LastSpawnError is the last error from starting a worker, nil after a
// success.
func (w *Watcher) LastSpawnError() error { return w.lastSpawnErr }

func (w *Watcher) retire(p *Process) {
	if p.State == ProcStopping {
		return
	}
	p.State = ProcStopping
	w.signal(p, w.spec.StopSignal)
	w.armKill(p, w.spec.GracefulTimeout)
}

func (w *Watcher) armKill(p *Process, grace time.Duration) {
	w.gen++
	p.gen = w.gen
	w.host.After(grace, Timer{Watcher: w.spec.Name, Kind: TimerKill, Pid: p.Pid, Wid: p.Wid, Gen: w.gen})
}

func (w *Watcher) signal(p *Process, sig syscall.Signal) {
	if err := w.host.Signal(p.Pid, sig); err != nil {
		w.log.Debug("signal failed", "pid", p.Pid, "signal", sig, "error", err)
		return
	}
	w.host.Publish(w.spec.Name, "kill", map[string]any{"process_pid": p.Pid, "process_id": p.Wid, "signal": int(sig)})
}

// procSpec builds the exec request for slot wid.
func (w *Watcher) procSpec(wid int) (ProcSpec, error) {
	s := w.spec
	dir := s.WorkingDir
	if dir == "" {
		var err error
		if dir, err = os.Getwd(); err != nil {
			return ProcSpec{}, err
		}
	}
	env := w.env()
	vars := w.vars(wid, dir)
	for i, kv := range env {
		env[i] = configs.Expand(kv, vars)
	}
	listen := len(w.socks.Files) > 0 && !passesFDs(s)
	if listen {
		env = append(env, w.socks.Env...)
	}
	env = append(env, "POOLD_WID="+strconv.Itoa(wid), "POOLD_WATCHER="+s.Name)
	if s.Readiness == "notify" && w.socks.Notify != "" {
		env = append(env, "NOTIFY_SOCKET="+w.socks.Notify)
	}

	argv := splitCmd(configs.Expand(s.Cmd, vars))
	if len(argv) == 0 {
		return ProcSpec{}, fmt.Errorf("cmd is empty")
	}
	for _, a := range s.Args {
		argv = append(argv, configs.Expand(a, vars))
	}
	path, err := resolve(argv[0], dir, env)
	if err != nil {
		return ProcSpec{}, err
	}
	rl := make(map[int]uint64, len(s.Rlimits))
	for name, v := range s.Rlimits {
		if res, ok := configs.RlimitResource(name); ok {
			rl[res] = v
		}
	}
	return ProcSpec{
		Path: path, Argv: argv, Env: env, Dir: dir, Files: w.socks.Files,
		Credential: w.cred, Umask: s.Umask, Rlimits: rl, Listen: listen,
	}, nil
}

var socketVar = regexp.MustCompile(`(\$\(|\(\()(pool|circus)\.sockets\.`)

// passesFDs reports whether cmd or args hand the worker its sockets' fd
// numbers explicitly ($(pool.sockets.NAME), as in gunicorn's
// --bind fd://...). Such a worker is not also given LISTEN_FDS: gunicorn
// would adopt the same fd twice and fail with "Bad file descriptor".
func passesFDs(s configs.Watcher) bool {
	if socketVar.MatchString(s.Cmd) {
		return true
	}
	for _, a := range s.Args {
		if socketVar.MatchString(a) {
			return true
		}
	}
	return false
}

// env is the worker environment before variables are expanded.
func (w *Watcher) env() []string {
	env := baseEnv(w.spec.CopyEnv)
	for _, kv := range w.spec.Env {
		k, _, _ := strings.Cut(kv, "=")
		env = setEnv(env, k, kv)
	}
	return env
}

// vars are the $(pool.X) variables of slot wid (PROTOCOL.md section 4).
// dir "" means the configured working_dir.
func (w *Watcher) vars(wid int, dir string) map[string]string {
	if dir == "" {
		dir = w.spec.WorkingDir
	}
	vars := map[string]string{
		"wid": strconv.Itoa(wid), "name": w.spec.Name, "working_dir": dir, "uid": w.spec.UID,
	}
	for name, fd := range w.socks.FDs {
		vars["sockets."+name] = strconv.Itoa(fd)
	}
	for _, kv := range w.env() {
		k, v, _ := strings.Cut(kv, "=")
		vars["env."+k] = v
	}
	return vars
}

const defaultPath = "/usr/local/bin:/usr/bin:/bin"

// baseEnv is poold's environment with copy_env, else PATH alone (so that
// commands are found as in a login shell).
func baseEnv(copyEnv bool) []string {
	if copyEnv {
		var env []string
		for _, kv := range os.Environ() {
			if strings.HasPrefix(kv, "LISTEN_") || strings.HasPrefix(kv, "NOTIFY_SOCKET=") {
				continue
			}
			env = append(env, kv)
		}
		return env
	}
	p := os.Getenv("PATH")
	if p == "" {
		p = defaultPath
	}
	return []string{"PATH=" + p}
}

func setEnv(env []string, key, kv string) []string {
	for i, e := range env {
		if strings.HasPrefix(e, key+"=") {
			env[i] = kv
			return env
		}
	}
	return append(env, kv)
}

// resolve finds the executable: a name with a slash is taken relative to
// the working directory, a bare name is looked up in the worker's PATH.
func resolve(name, dir string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		if !filepath.IsAbs(name) {
			name = filepath.Join(dir, name)
		}
		if err := executable(name); err != nil {
			return "", err
		}
		return name, nil
	}
	pathVar := defaultPath
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			pathVar = v
		}
	}
	for _, d := range filepath.SplitList(pathVar) {
		if d == "" {
			d = "."
		}
		if !filepath.IsAbs(d) {
			d = filepath.Join(dir, d)
		}
		cand := filepath.Join(d, name)
		if executable(cand) == nil {
			return cand, nil
		}
	}
	return "", fmt.Errorf("command %q not found in PATH %q (give a full path or set PATH in env)", name, pathVar)
}

func executable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("command %s: %w", path, err)
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return fmt.Errorf("command %s is not an executable file", path)
	}
	return nil
}

// splitCmd splits a command line on blanks, honouring single and double
// quotes and backslash escapes (no other shell syntax).
func splitCmd(s string) []string {
	var out []string
	var cur strings.Builder
	in := false
	var quote rune
	esc := false
	for _, r := range s {
		switch {
		case esc:
			cur.WriteRune(r)
			esc = false
		case r == '\\' && quote != '\'':
			esc = true
			in = true
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote = r
			in = true
		case r == ' ' || r == '\t' || r == '\n':
			if in {
				out = append(out, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if in {
		out = append(out, cur.String())
	}
	return out
}

// CheckSpec checks what New would check of spec on this machine (user and
// group), so a config reload can refuse a bad config before changing
// anything.
func CheckSpec(spec configs.Watcher) error {
	if _, err := spec.Credential(); err != nil {
		return err
	}
	return nil
}
