package watcher

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher/launch"
	"github.com/poold/poold/watcher/spawn"
)

// Status is a watcher's state as the control protocol reports it.
type Status string

// Watcher statuses. Flapping and Failed are poold's additions: a slot
// whose worker keeps dying pauses (flapping) and, after too many pauses,
// gives up (failed); healthy workers keep running in both.
const (
	Stopped  Status = "stopped"
	Starting Status = "starting"
	Active   Status = "active"
	Stopping Status = "stopping"
	Flapping Status = "flapping"
	Failed   Status = "failed"
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
	// Spawn begins starting a worker and returns finish, which ends the
	// start: the worker's pid, or why it could not start. The host may
	// still be forking when Spawn returns, so that the watcher's own work
	// overlaps the fork; the watcher may begin the next start before it
	// finishes this one, and finishes every start, in order, before its
	// reconcile step ends. The host arranges for the worker's exit to
	// come back through Watcher.Exited and for its output to be logged.
	Spawn(w *Watcher, wid int, spec spawn.ProcSpec) (finish func() (pid int, err error))
	// Signal sends sig to the process group led by pid.
	Signal(pid int, sig syscall.Signal) error
	// SignalProcess sends sig to pid alone, not to what it started: a
	// request to reload (send_hup) is for the worker itself, as circusd
	// sends it, and a master's children often die of a SIGHUP they do not
	// handle (gunicorn's workers do).
	SignalProcess(pid int, sig syscall.Signal) error
	// After delivers t to Watcher.Fire after d, on the loop.
	After(d time.Duration, t Timer)
	// Check runs fn off the loop with a deadline of timeout and delivers
	// its outcome to Watcher.Checked, on the loop. The func it returns
	// cancels fn's context (its outcome is still delivered).
	Check(c Check, timeout time.Duration, fn func(ctx context.Context) error) (cancel func())
	// Publish emits a lifecycle event for watcher.
	Publish(watcher string, kind events.Kind, fields map[string]any)
	// SpawnTurn counts one spawn against the loop's turn, whose budget
	// all watchers share; false when it is spent: the watcher then waits
	// for a TimerMore, as after spawnBatch of its own.
	SpawnTurn() bool
}

// Sockets are the listening sockets a watcher's workers inherit, and the
// notify socket they report readiness on.
type Sockets = launch.Handoff

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
	// recycleWhy is why (the recycle event's reason: max_age, health,
	// limit); "" for one carried across an upgrade.
	recycleWhy string

	gen      uint64        // ties timers and checks to this process
	healthKO int           // failed health checks in a row
	healthy  bool          // it passed a health check once
	probing  bool          // a health probe of it is in flight
	heldSick bool          // failing its health check, kept running during a trial (healthtrial.go)
	probeOf  uint64        // the health round its last probe began in
	limitKO  int           // stats samples over a limit in a row
	overAge  time.Duration // its uptime at the first of those samples
	failure  string        // poold stopped it for failing readiness, health checks or a limit young: its exit is an early death
	failCode string        // the exit reason code for failure (ReasonReadiness, ReasonUnhealthy, ReasonLimit)
	killed   bool          // poold SIGKILLed it when its grace period ran out
	sentKill bool          // a signal command sent it SIGKILL: its end is that, not an OOM kill
	grace    time.Duration // the grace period it was given
	killAt   time.Time     // when that grace period ends (an upgrade hands it over)
	ageAt    time.Time     // when max_age recycles it, as last armed (armMaxAge)
	busy     int           // requests in hand, from its last BUSY=N; -1 before any
	byStop   bool          // stopped by its watcher's stop (stop, restart, quit): its exit is reaped as circusd does
	booting  bool          // it was being stopped before it was ever ready (StoppedBooting)
}

// lastID numbers watchers for the life of the process.
var lastID atomic.Uint64

// Watcher is one pool.
type Watcher struct {
	id     uint64
	spec   configs.Watcher
	socks  Sockets
	host   Host
	log    hclog.Logger
	policy CrashPolicy
	cred   *syscall.Credential

	status     Status
	startAfter bool // a Start arrived while stopping: start once stopped
	// pathSaid is the PATH the log named last in a program-not-found
	// spawn error (sayOnce); nil before the first.
	pathSaid *string
	// announce holds Circus's start and reload events until the workers
	// they announce are spawned (start) or replaced (reload), the order
	// circusd publishes them in.
	announce announcements
	specGen  int // bumped when workers must be replaced
	procs    map[int]*Process
	// earlier are processes whose pid the kernel gave a new worker of
	// this watcher before their exit reached it (EndedEarlier).
	earlier  []*Process
	tally    tally       // procs by kind; kept by addProc, removeProc, setState and the rest of tally.go
	widProcs map[int]int // live processes per wid; kept by addProc and removeProc
	freeFrom int         // every wid below it is taken (see fill)
	slots    map[int]*slot
	holdN    map[Hold]int // slots in each hold but HoldNone; kept by setHold
	looping  map[int]bool // the wids of slots with a crash history; kept by setCounters
	due      map[int]bool // the wids of slots in HoldDue; kept by setHold
	seq      uint64       // generations for timers and checks
	waiters  []func()

	// flapping: Status was Flapping at the last settle; said: a
	// `recovered` went out since (survived); recovering: the generation
	// of the pending TimerRecovered, 0 for none. See noteRecovery.
	flapping, said bool
	recovering     uint64

	roll          *rollout      // a rolling replacement of every worker, or nil
	seenServing   bool          // a worker of it was seen waiting on its sockets: one never seen is suspect (waitsSeen)
	rollLeft      map[int]bool  // the old workers a finished rollout stopped, until they are gone (rollGone)
	reloadErr     error         // why the last rollout was abandoned
	refusedSpec   bool          // that rollout was of a new spec (reload of the config, set), not the same one
	startErr      error         // why the last start did not happen (a hook, a dependency)
	started       bool          // a Start has run since poold began (see Started)
	ranOut        bool          // stopped as its workers all ended on their own (oneshot.go)
	afterStart    bool          // its after_start hook runs: the start is not done
	afterStartGen uint64        // ties that hook's outcome to its start (a stop moves it on)
	afterStop     uint64        // non-zero while its after_stop hook runs (that hook's generation): the stop is not done
	goneWaiters   []func()      // WhenWorkersGone
	abandoned     bool          // Abandon let go of its workers: every waiter runs at once
	warmup        uint64        // non-zero while warmup_delay holds back the next spawn
	spawned       int           // spawns in this turn of the loop (see spawnBatch)
	inflight      pendingSpawns // begun, not finished (see spawnAt)
	more          uint64        // non-zero while the next batch waits for its turn
	deferred      int           // HoldSettle calls not yet released
	health        uint64        // generation of the health timer in force
	trial         uint64        // non-zero while a health replacement is on trial: the health round it began in (healthtrial.go)
	healthRounds  uint64        // health rounds so far
	trialWid      int           // the wid of the worker replaced on trial
	gate          uint64        // non-zero while before_start or before_stop holds the action (hook.go)
	hooks         map[uint64]hookRun
	lookup        uint64 // non-zero while its user and group are asked of NSS off the loop: that run's generation (lookup.go)

	lastSpawnErr error
	restartLog   Restarts // restarts by reason (restartcount.go)
	owed         []int    // counts owed to the replacements of recycled workers (restartcount.go)
	lack         lackLog  // lines about slots lacking pids, memory or fds (lacklog.go)
	// spawnWindow is how long a worker with readiness "spawn" and no
	// socket to watch must live to be ready (defaultSpawnWindow); 0, for
	// tests that drive a watcher with a fake host: ready at spawn.
	spawnWindow time.Duration

	// conf is the numprocesses an elastic pool's spec was given (file,
	// add, set numprocesses), while spec.NumProcesses is the size in
	// force: where a start begins, how many the first connection of an
	// on_demand pool starts, and its max_workers when it has none.
	conf      int
	scaler    scaler // elastic pools: the autoscaling policy's memory
	scaleInfo Size   // the last change of size
}

// New builds a watcher from its spec. It checks what can only be checked on
// this machine (user and group) and does nothing else.
func New(spec configs.Watcher, socks Sockets, host Host, log hclog.Logger) (*Watcher, error) {
	w := &Watcher{
		id:       lastID.Add(1),
		host:     host,
		log:      log.With("watcher", spec.Name),
		status:   Stopped,
		procs:    make(map[int]*Process),
		widProcs: make(map[int]int),
		freeFrom: 1,
		slots:    make(map[int]*slot),
		holdN:    make(map[Hold]int),
		looping:  make(map[int]bool),
		due:      make(map[int]bool),

		spawnWindow: defaultSpawnWindow,
	}
	if err := w.setSpec(spec, socks); err != nil {
		return nil, err
	}
	w.conf = spec.NumProcesses
	w.spec.NumProcesses = spec.InitialSize()
	return w, nil
}

func (w *Watcher) setSpec(spec configs.Watcher, socks Sockets) error {
	if spec.MaxProcesses <= 0 { // a spec built by hand, not by configs
		spec.MaxProcesses = configs.DefaultMaxProcesses
	}
	// At hand only: the loop must not wait for getent. An answer to come
	// is looked up again before each start (refreshCred), off the loop.
	cred, err := spec.CredentialAtHand()
	switch {
	case errors.Is(err, configs.ErrNSSPending):
		cred = w.cred
	case err != nil:
		return err
	}
	w.spec, w.socks, w.cred = spec, socks, cred
	w.policy = policyOf(spec)
	return nil
}

func policyOf(s configs.Watcher) CrashPolicy {
	b := Backoff{Min: s.BackoffMin, Max: s.BackoffMax, Reset: s.BackoffReset, Jitter: 0.1}
	return PolicyFor(b, s.FlappingAttempts, s.FlappingWindow, s.FlappingRetryIn, s.FlappingMaxRetry)
}

// ID identifies this watcher for the life of poold; a watcher removed and
// added again under the same name gets a new one.
func (w *Watcher) ID() uint64 { return w.id }

// Name is the watcher's configured name.
func (w *Watcher) Name() string { return w.spec.Name }

// Spec is the watcher's current configuration.
func (w *Watcher) Spec() configs.Watcher { return w.spec }

// Sockets are the sockets the workers inherit.
func (w *Watcher) Sockets() Sockets { return w.socks }

// Target is the number of workers the watcher keeps.
func (w *Watcher) Target() int { return w.spec.NumProcesses }

// Status is the watcher's current status. A running watcher with a slot
// in a crash loop (see flapping.go) is flapping until a worker of that
// slot lives long enough; one with a slot that gave up is failed.
func (w *Watcher) Status() Status {
	if w.status != Active && w.status != Starting {
		return w.status
	}
	switch {
	case w.holdN[HoldFailed] > 0:
		return Failed
	case w.holdN[HoldPaused] > 0 || w.looped():
		return Flapping
	}
	return w.status
}

// Reason explains a flapping or failed status, a failed reload or slots
// left empty; "" when all is well.
func (w *Watcher) Reason() string {
	var parts []string
	if w.status == Stopped && w.startErr != nil {
		parts = append(parts, fmt.Sprintf("not started: %v; fix the cause, then run `start %s`", w.startErr, w.spec.Name))
	}
	if w.status == Stopping && w.workersGone() && w.reapHooksRun() {
		parts = append(parts, fmt.Sprintf("its workers' before_reap or after_reap hooks run (each at most hook_timeout %v); the stop is done once they end", w.spec.HookTimeout))
	}
	if w.afterStop != 0 {
		parts = append(parts, fmt.Sprintf("its after_stop hook runs (at most hook_timeout %v); the stop is done once it ends", w.spec.HookTimeout))
	}
	tr := w.troubled()
	for i, s := range tr {
		if i == maxTroubles {
			more := "slots"
			if len(tr)-i == 1 {
				more = "slot"
			}
			parts = append(parts, fmt.Sprintf("and %d more troubled %s (%s): `poolctl status %s` shows each",
				len(tr)-i, more, widList(tr[i:]), w.spec.Name))
			break
		}
		why := w.trouble(s)
		if i == 0 && s.lastPid != 0 {
			why += "; " + w.outputHint(s.lastPid, s.wid)
		}
		parts = append(parts, why)
	}
	if held := w.trialReason(); held != "" {
		parts = append(parts, held)
	}
	if w.reloadErr != nil {
		parts = append(parts, w.reloadErr.Error())
	}
	return strings.Join(parts, "; ")
}

// ReloadError is why the last rolling reload was abandoned, nil if it was
// not.
func (w *Watcher) ReloadError() error { return w.reloadErr }

// SpecStands tells w that the config asks again for the spec it runs: a
// reload found its section as it runs, after the file went back on a
// change whose rollout was abandoned. That abandoned change no longer
// applies, so its reason leaves the status. The reason of an abandoned
// reload of the same spec (poolctl reload) stays: the file says nothing
// of it.
func (w *Watcher) SpecStands() {
	if w.refusedSpec {
		w.reloadErr, w.refusedSpec = nil, false
	}
}

// StartError is why the last start of a watcher now stopped did not
// happen (its before_start hook failed, or NotStarted), nil if it did.
func (w *Watcher) StartError() error {
	if w.status != Stopped {
		return nil
	}
	return w.startErr
}

// NotStarted records why a stopped watcher was not started (a dependency
// is down); Reason and StartError give it until the next Start. nil
// forgets an earlier reason (a new start is on its way).
func (w *Watcher) NotStarted(err error) {
	if w.status != Stopped {
		return
	}
	w.startErr = err
	if err != nil {
		w.log.Error("not started", "why", err)
	}
}

// LastSpawnError is the last error from starting a worker, nil after a
// success.
func (w *Watcher) LastSpawnError() error { return w.lastSpawnErr }

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

// KillAt is when poold SIGKILLs p, a worker being stopped, if it has not
// ended by then (its graceful_timeout, or a kill's); zero for a worker
// not stopping.
func (p Process) KillAt() time.Time {
	if p.State != ProcStopping {
		return time.Time{}
	}
	return p.killAt
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

// Running is how many live processes the watcher has, stopping ones
// included: len(Pids()) without the sorted copy.
func (w *Watcher) Running() int { return len(w.procs) }

// Has reports whether pid is one of this watcher's live processes.
func (w *Watcher) Has(pid int) bool { _, ok := w.procs[pid]; return ok }

// StoppedBooting reports whether pid is a worker being stopped that was
// never ready: it was still starting when poold asked it to stop. Its
// processes were booting, not serving, so what it forks around the stop
// has no work to finish (the host's boot sweep, arbiter/bootstop.go).
func (w *Watcher) StoppedBooting(pid int) bool {
	p, ok := w.procs[pid]
	return ok && p.State == ProcStopping && p.booting
}

// Settled reports whether nothing is in flight: a stopped watcher has no
// process; a running one has exactly its target of current, ready workers
// and waiting, failed or exited slots, and nothing starting, stopping or
// due for replacement.
func (w *Watcher) Settled() bool {
	if w.gate != 0 || w.afterStart || w.afterStop != 0 {
		return false
	}
	switch w.status {
	case Stopped:
		return len(w.procs) == 0 && !w.startAfter
	case Active, Starting:
		if !w.allReadyCur() || w.holdN[HoldDue] > 0 || w.holdN[HoldHook] > 0 || w.holdN[HoldLookup] > 0 {
			return false
		}
		return len(w.procs)+w.heldCount() == w.spec.NumProcesses
	}
	return false
}

// WhenSettled calls fn (on the loop) once the watcher is settled, at once
// if it already is.
func (w *Watcher) WhenSettled(fn func()) {
	w.waiters = append(w.waiters, fn)
	w.fireWaiters()
}

// WhenWorkersGone calls fn (on the loop) once the watcher is stopped
// with no process left, its after_stop hook (or its workers' reap hooks)
// still running or not, or is settled: at once if it already is. An ordered stop goes on to a watcher that does
// not need this one's after_stop to be over.
func (w *Watcher) WhenWorkersGone(fn func()) {
	w.goneWaiters = append(w.goneWaiters, fn)
	w.fireWaiters()
}

// workersGone reports whether the watcher is stopped, or stopping with
// only its workers' reap hooks left to end (finishStop), with no process.
func (w *Watcher) workersGone() bool {
	return len(w.procs) == 0 && (w.status == Stopped || w.status == Stopping && w.gate == 0)
}

func (w *Watcher) fireWaiters() {
	for len(w.goneWaiters) > 0 && (w.abandoned || w.workersGone() || w.Settled()) {
		ws := w.goneWaiters
		w.goneWaiters = nil
		for _, fn := range ws {
			fn()
		}
	}
	for len(w.waiters) > 0 && (w.abandoned || w.Settled()) {
		ws := w.waiters
		w.waiters = nil
		for _, fn := range ws {
			fn()
		}
	}
}

// settle finishes a change: it reconciles until nothing changes, then
// fires the waiters that became due. Every public method that changes
// state ends with it, and nothing else calls fireWaiters.
func (w *Watcher) settle() {
	if w.deferred > 0 {
		return // ReleaseSettle settles
	}
	w.reconcile()
	w.noteRecovery()
	w.announceStarted()
	w.fireWaiters()
	w.spawned = 0
}

// HoldSettle defers the settle every change ends with until the matching
// ReleaseSettle, which settles once. The arbiter brackets a burst of
// exits with them: the pool is reconciled once for the burst, not once
// per exit (each reconcile counts every worker).
func (w *Watcher) HoldSettle() { w.deferred++ }

// ReleaseSettle ends a HoldSettle; the last one settles.
func (w *Watcher) ReleaseSettle() {
	if w.deferred--; w.deferred == 0 {
		w.settle()
	}
}

// Reconcile re-checks the pool against its target. The loop calls it on a
// slow tick as a safety net; every real transition reconciles by itself.
func (w *Watcher) Reconcile() { w.settle() }
