// Package arbiter owns every watcher and process record of poold and runs
// the command set of the control protocol.
//
// Concurrency: one goroutine (Run's loop) owns all mutable state. Everything
// else talks to it through its inbox: commands (each with a reply channel of
// capacity 1), process exits (one goroutine per child, parked until the
// spawner's thread reaps the child, so without a thread, posts its exit), timers
// (grace deadlines and backoff, tagged with a generation so stale ones are
// ignored) and loaded configs. The loop never sleeps or blocks on I/O: a
// graceful stop is "signal, arm a timer, answer later", a command that must
// wait parks its reply until the watcher settles, and slow things (config
// file I/O, /proc sampling) run outside the loop. Forks happen on the
// spawner's locked OS thread.
package arbiter

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/poold/poold/arbiter/upgrade"
	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/sockets"
	"github.com/poold/poold/watcher"
	"github.com/poold/poold/watcher/cgroup"
	"github.com/poold/poold/watcher/procinfo"
	"github.com/poold/poold/watcher/spawn"
)

// checkDelay is the period of the loop's safety-net reconcile (Circus's
// check_delay). Deaths, timers and commands act at once; the tick only
// catches what nothing else would.
const checkDelay = 5 * time.Second

// Arbiter runs the watchers of one configuration.
type Arbiter struct {
	opts    Options
	log     hclog.Logger
	bus     *events.Bus
	cfg     *configs.Config
	started time.Time

	inbox   chan any
	up      chan struct{} // closed when the loop begins (see Up)
	stopped chan struct{} // closed when the loop has ended or Run failed before it
	done    chan struct{} // closed when Run returns
	quit    chan struct{} // closed by the quit command
	quitO   sync.Once
	// work counts the loop's units of work (a message handled, a worker
	// started, an event published) for Live: written on the loop, read
	// by probes.
	work atomic.Uint64
	// steps is the loop's step in progress, for Live and the log (step.go).
	steps steps
	// quitWaiting are quit commands with waiting, answered once every
	// worker is gone.
	quitWaiting []*cmdMsg

	// Owned by the loop.
	socks    *sockets.Set
	queues   queueLooks // the looks at accept queues (stuckqueue.go)
	spawner  *spawn.Spawner
	watchers map[string]*watcher.Watcher // by lower-case name
	byID     map[uint64]*watcher.Watcher // by Watcher.ID: timers and checks
	owner    map[int]*watcher.Watcher    // pid -> watcher
	// leftStops holds each watcher's leftStop as its spec is now, for
	// the goroutines that end its workers (leftstopnow.go).
	leftStops map[*watcher.Watcher]*leftStopNow
	// procs is each pid's process as watchExit took it on: an exit whose
	// process is not the one there is of an earlier worker whose pid the
	// kernel has reused since (loop.go).
	procs map[int]*spawn.Proc
	// unmanaged holds the workers `rm --nostop` left running (unmanaged.go).
	unmanaged map[int]unmanagedProc
	stopping  bool
	// failExit: a watcher with failure_action = "exit" failed; the loop
	// stops everything and Run returns it (failaction.go).
	failExit   *WatcherFailedError
	pidsNoted  bool    // notePidsLimit said how poold's pids limit divides
	graceNoted bool    // noteGracePeriod looked
	fdsShort   int     // what noteFds last found short (FdNeed.Short)
	fds        fdGauge // poold's open fds, for the reserve a start leaves (fdreserve.go)
	// hurried: a third stop request (Kill) came; poold exits without
	// waiting for the hooks still running (the exit kills them).
	hurried      bool
	hurry        chan struct{} // closed by Kill, for endOrphans after the loop
	hurryOnce    sync.Once
	foreignProc  bool         // /proc is not of poold's pid namespace (checkProc)
	mark         []string     // every worker's environment names its config and poold (leftsweep.go)
	inherited    map[int]bool // poold's children when Run began, not its to stop
	hookWaitSaid bool         // the shutdown said it waits for hooks
	output       *output
	config       ConfigState // outcome of the last config reload (health.go)
	// filed holds each watcher's section as the config file last gave
	// it, by lower-case name: a reload applies only what the file changed
	// since, so run-time incr and set of other keys survive (reload.go).
	filed map[string]configs.Watcher
	// leaving holds the watchers on their way out (rm, or a reload that
	// removed them): stopping, still listed, forgotten once stopped unless
	// a reload restores them first (retire.go).
	leaving map[*watcher.Watcher]bool
	// argsGiven holds the shape a client gave each watcher's args in
	// through add or set, for options and get (circusopts.go).
	argsGiven map[*watcher.Watcher]givenArgs
	// origins holds, by key, the last set, incr or decr that changed
	// each watcher's keys, for status NAME (overrides.go).
	origins map[*watcher.Watcher]map[string]origin
	// holding are the watchers whose config reload update waits for a
	// changed one-shot's run (reloadoneshot.go): their spec is the old
	// one meanwhile, which is no run-time override.
	holding map[*watcher.Watcher]bool
	// closeChild holds the close_child_stdout and close_child_stderr a
	// set gave each watcher, which change nothing at run time, as in
	// circusd, for get to answer (circusclose.go).
	closeChild map[*watcher.Watcher]map[string]bool

	// limits says whether a watcher has max_rss or max_cpu, for the stats
	// goroutine to read without asking the loop (noteLimits).
	limits atomic.Bool
	// memLimits says whether a watcher has memory_max, for the stats
	// goroutine's look at OOM kills of workers' children (oomchild.go).
	memLimits atomic.Bool
	// contained says that workers get a cgroup each, for the stats
	// goroutine's look at workers that left theirs (escape.go).
	contained atomic.Bool
	// cgroupLimits says whether a watcher has memory_max, pids_max or
	// cpu_max, whose workers the stats goroutine checks (escape.go).
	cgroupLimits atomic.Bool
	// subreaper says that poold is the subreaper of its workers' orphans,
	// with a /proc of its own pid namespace: a worker's descendant that
	// daemonized is poold's child (members.go).
	subreaper   atomic.Bool
	memberReads memberReads

	tree        *cgroup.Tree          // poold's worker cgroups; nil: process groups
	containment string                // what contains the workers, for status and log
	movedLogged bool                  // the move into cgroup.SelfLeaf was logged
	outer       *cgroup.Outer         // poold's own memory cgroup (a container's); nil: none
	groups      map[int]*cgroup.Group // pid -> its cgroup
	oomSeen     map[int]oomAccount    // pid -> its cgroup's OOM counter as reported (oomchild.go)
	// Under a memory limit of poold's cgroup (oomadj.go): that cgroup,
	// poold's oom_score_adj, and the watchers whose own oom_score_adj
	// it has warned of, at that value.
	oomLimited   string
	oomOwn       int
	oomAdjWarned map[string]int
	stops        stopDeadlines // pid -> end of its stop's graceful_timeout
	// afterBootStopSignal, set by tests before the stop, is called on the
	// loop just after a booting worker's stop signal, before its boot
	// sweep begins (bootstop.go).
	afterBootStopSignal func(pid int)
	strays              strayBook  // running workers, strays named (strays.go)
	drains              drains     // workers whose leftovers are being stopped after their end (leftdrain.go)
	strayScans          strayScans // scans of poold's children, shared (strayscan.go)
	// cleanups bounds how many exited workers' cgroups are emptied and
	// removed at once (see ended): each step is a blocking syscall, and a
	// burst of exits would otherwise give each one an OS thread of its own.
	cleanups chan struct{}

	runCtx    context.Context // cancelled when the loop ends: probes stop
	notify    map[string]*notifier
	notifyDir string

	loopCtx context.Context // Run's: done once poold is asked to stop
	// signalled counts the reloads (SIGHUP) and reopens (SIGUSR1) asked
	// and not yet taken by the loop, for an upgrade to hand over.
	signalled struct{ reload, reopen atomic.Int32 }

	waits sync.WaitGroup // one per child's exit-watching goroutine
	bg    sync.WaitGroup // config loads and other off-loop work

	// The loop's spawn budget (spawnturn.go): workers started in this
	// turn, the watchers waiting for a turn of their own, and whether a
	// moreMsg is on its way.
	turnSpawns int
	moreQ      []watcher.Timer
	morePosted bool

	// The stats interval of the last reload, for RunStats (off the loop).
	statsEvery atomic.Int64 // nanoseconds; 0: as RunStats was called
	// stuckAfter is [arbiter] stuck_after (nanoseconds; 0: the default),
	// read by Live and watchSteps from other goroutines (stuckBound).
	stuckAfter   atomic.Int64
	statsChanged chan struct{} // capacity 1: statsEvery changed

	elastic elastic // the demand monitor of elastic pools (elastic.go)

	starts pendingStarts // starts that wait for a dependency (depends.go)
	// restarting counts, for each watcher, the restarts that will start it
	// again; restarts are those still in their stop phase (restart.go).
	restarting map[*watcher.Watcher]int
	restarts   map[*restartJob]bool

	upgrading    bool             // an upgrade's pre-flight or exec is in flight
	held         []any            // taken from the inbox in an exec step that failed (upgradectl.go)
	reloads      int              // config reloads not answered yet: an upgrade waits for them (reload.go)
	reading      reloadQueue      // one config reload reads its file at a time (reloadqueue.go)
	parked       map[*cmdMsg]bool // waited commands not answered yet: an upgrade waits for them (settle.go)
	upgraded     upgrade.Outcome  // the last upgrade (upgrade_status)
	settleBy     time.Time        // an upgrade waiting for watchers to settle gives up then (settle.go)
	settleSaid   time.Time        // when the log last said what an upgrade waits for (settle.go)
	settleLogged string           // what it said then

	// reloadAsked numbers config reloads as they are asked for;
	// reloadKept is the number of the one whose outcome a.config holds
	// (recordReload).
	reloadAsked, reloadKept uint64
}

// New builds an arbiter for cfg. It does no I/O.
func New(cfg *configs.Config, opts Options) *Arbiter {
	if opts.Log == nil {
		opts.Log = hclog.NewNullLogger()
	}
	if opts.Events == nil {
		opts.Events = events.NewBus(nil)
	}
	if opts.Stats == nil {
		opts.Stats = procinfo.New()
	}
	// The instance names this run of poold on the event stream: an
	// in-place upgrade keeps it, as the seq goes on where the previous
	// image left it; a start takes a new one, as the seq starts at 1.
	instance := events.NewInstance()
	if opts.Adopt != nil {
		opts.Events.Restore(opts.Adopt.Seq, opts.Adopt.History)
		if opts.Adopt.Instance != "" {
			instance = opts.Adopt.Instance
		}
	}
	opts.Events.SetInstance(instance)
	if cfg.Arbiter.MaxProcesses <= 0 { // a config built by hand, not by configs
		cfg.Arbiter.MaxProcesses = configs.DefaultMaxTotal
	}
	a := &Arbiter{
		opts:         opts,
		log:          opts.Log,
		bus:          opts.Events,
		cfg:          cfg,
		inbox:        make(chan any, 1024),
		done:         make(chan struct{}),
		stopped:      make(chan struct{}),
		steps:        steps{kick: make(chan struct{}, 1)},
		hurry:        make(chan struct{}),
		up:           make(chan struct{}),
		quit:         make(chan struct{}),
		watchers:     make(map[string]*watcher.Watcher),
		byID:         make(map[uint64]*watcher.Watcher),
		owner:        make(map[int]*watcher.Watcher),
		procs:        make(map[int]*spawn.Proc),
		groups:       make(map[int]*cgroup.Group),
		oomSeen:      make(map[int]oomAccount),
		oomAdjWarned: make(map[string]int),
		unmanaged:    make(map[int]unmanagedProc),
		leaving:      make(map[*watcher.Watcher]bool),
		parked:       make(map[*cmdMsg]bool),
		cleanups:     make(chan struct{}, cgroupCleanups),

		statsChanged: make(chan struct{}, 1),
		fds:          fdGauge{count: openFds, limit: NofileLimit},
	}
	a.stuckAfter.Store(int64(cfg.Arbiter.StuckAfter))
	return a
}

// Done is closed when Run has returned.
func (a *Arbiter) Done() <-chan struct{} { return a.done }

// Stopped is closed once the loop has ended: from then on every command
// is refused ("poold shut down before ... completed"), which a client that
// polls poold's state (the console) takes as poold stopping, no failure.
func (a *Arbiter) Stopped() <-chan struct{} { return a.stopped }

// Quitting is closed once the quit command was received; Run then stops
// everything and returns nil.
func (a *Arbiter) Quitting() <-chan struct{} { return a.quit }

// Up is closed once Run has bound or taken over the sockets, made the
// watchers and begun to serve; a Run that fails before that returns its
// error with Up still open.
func (a *Arbiter) Up() <-chan struct{} { return a.up }

// openSockets binds the configured sockets, or takes over those of the
// image poold re-executed from, and sets a.socks.
func (a *Arbiter) openSockets() error {
	// fds poold inherited without close-on-exec would reach every worker.
	if err := sockets.SealInherited(); err != nil {
		return fmt.Errorf("arbiter: mark inherited fds close-on-exec: %w", err)
	}
	var socks *sockets.Set
	var err error
	a.outer = cgroup.OpenOuter()
	a.mark = workerMark(a.cfg.Path)
	if a.opts.Adopt != nil {
		socks, err = a.adoptSockets(a.opts.Adopt)
	} else {
		// Before the bind: a killed poold's leftovers may hold a port.
		if err := a.openTree(); err != nil {
			return err
		}
		var unused []string
		// And a leftover no cgroup held that holds a port: once, as a
		// bind finds it (leftsweep.go).
		sw := a.leftSweep()
		socks, unused, err = sockets.BindPassedFreeing(a.cfg.Sockets, a.opts.Passed, sw.free)
		err = a.explainBind(sw.explain(err), a.cfg)
		if err == nil {
			sw.sweepShared(socks, socks.List()) // reuseport: a bind that shared its address
		}
		for _, u := range unused {
			a.log.Warn("closed poold's copy of a socket the service manager passed that no [sockets.NAME] takes; under a .socket unit systemd keeps its own, so its clients wait unanswered: "+
				"add a [sockets.NAME] named like it (systemd FileDescriptorName=) or on its address, with a watcher serving it, and restart poold (a reload cannot take it), or remove it from the .socket unit (ListenStream=)",
				"passed", u)
		}
	}
	if err != nil {
		a.closeTree()
		return err
	}
	a.socks = socks
	msg := "socket bound"
	if a.opts.Adopt != nil {
		msg = "socket taken over" // by fd from the image before an upgrade: not bound again
	}
	for _, l := range socks.List() {
		m := msg
		if l.Passed() && a.opts.Adopt == nil {
			m = "socket taken from the service manager" // systemd socket activation
		}
		a.log.Info(m, "socket", l.Name, "address", l.Addr(), "fd", l.FD())
	}
	return nil
}

// addWatcher creates a watcher for spec (not started).
func (a *Arbiter) addWatcher(spec configs.Watcher) (*watcher.Watcher, error) {
	socks, err := a.handoff(spec, a.cfg.Sockets)
	if err != nil {
		return nil, err
	}
	w, err := watcher.New(spec, socks, host{a}, a.log)
	if err != nil {
		return nil, err
	}
	a.watchers[strings.ToLower(spec.Name)] = w
	a.byID[w.ID()] = w
	return w, nil
}

// forget drops a removed watcher: its name is free again, and its timers,
// checks and exits go nowhere.
func (a *Arbiter) forget(w *watcher.Watcher) {
	key := strings.ToLower(w.Name())
	if a.watchers[key] != w {
		return
	}
	delete(a.watchers, key)
	delete(a.leaving, w)
	delete(a.byID, w.ID())
	delete(a.argsGiven, w)
	delete(a.origins, w)
	delete(a.closeChild, w)
	for pid, o := range a.owner {
		if o == w {
			delete(a.owner, pid)
		}
	}
	a.closeNotify(w.Name())
	a.output.dropPool(w.Name())
}

// announceRemove publishes Circus's remove event for w, which circusd
// sends before it stops a watcher it removes (rm, or a config reload).
func (a *Arbiter) announceRemove(w *watcher.Watcher) {
	a.bus.Publish(w.Name(), events.KindRemove, nil)
}

// needsNotify tells whether spec's workers get a notify socket: for
// readiness notify, and for scale_busy_target, whose BUSY=N comes there.
func needsNotify(spec configs.Watcher) bool {
	return spec.Readiness == "notify" || spec.ScaleBusyTarget > 0
}

func (a *Arbiter) handoff(spec configs.Watcher, all []configs.Socket) (watcher.Sockets, error) {
	h, err := a.socks.Handoff(spec.SocketNames(all))
	if err != nil {
		return watcher.Sockets{}, fmt.Errorf("watcher %q: %w", spec.Name, err)
	}
	socks := watcher.Sockets{Files: h.Files, Env: h.Env, FDs: h.FDs, Mark: a.mark}
	if needsNotify(spec) {
		if socks.Notify, err = a.notifySocket(spec.Name); err != nil {
			return watcher.Sockets{}, err
		}
	}
	return socks, nil
}
