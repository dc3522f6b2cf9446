package arbiter

import (
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/poold/poold/arbiter/logsink"
	"github.com/poold/poold/arbiter/upgrade"
	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/sockets"
	"github.com/poold/poold/watcher/procinfo"
	"github.com/poold/poold/watcher/spawn"
)

// Options are the arbiter's collaborators.
type Options struct {
	Log hclog.Logger
	// Logs is the queue between Log and stderr; its counters (lines
	// written, dropped, stderr stalled or gone) are shown by dstats and
	// globaloptions. Nil: not shown.
	Logs   *logsink.Sink
	Events *events.Bus // lifecycle events; nil: a private bus
	// Streams returns the event and stats streams' figures (subscribers,
	// drops, evictions, who falls behind), which dstats adds to its info.
	// It runs off the loop. Nil: not shown.
	Streams func() map[string]any
	// Self is poold's own executable, re-run as the exec shim of every
	// worker. Default: os.Executable().
	Self string
	// Load re-reads the configuration (SIGHUP, reloadconfig). Nil: the
	// config cannot be reloaded.
	Load func() (*configs.Config, error)
	// Stats samples /proc for the stats and dstats commands and the stats
	// stream. Default: a new sampler.
	Stats *procinfo.Sampler
	// OnConfig is given each reloaded config once it is accepted, to apply
	// the settings the arbiter does not own (log_level, [web]). It returns
	// the dotted names of the changed settings it cannot apply without a
	// restart ("web.address"); reloadconfig reports them. It runs on the
	// loop and must not block.
	OnConfig func(*configs.Config) (restartNeeded []string)
	// ControlConns tells how many fds the control endpoint's connections
	// hold and whose they are ("uid:1002 3900, uid:0 2"), for the error
	// of a worker that could not start for want of fds. Nil: not told.
	ControlConns func() (n int, peers string)
	// Lifecycle is told when a config reload begins and ends and when
	// poold begins to stop (notice.go). Nil: nobody is.
	Lifecycle Lifecycle
	// NoCgroups keeps workers in process groups even where poold could
	// make cgroups.
	NoCgroups bool
	// Upgrade lets poold re-execute itself in place (handover.go); nil:
	// the upgrade command is refused.
	Upgrade *Upgrader
	// Adopt is the state handed over by the previous image of poold: Run
	// takes over its sockets and workers instead of binding and starting
	// (adopt.go).
	Adopt *upgrade.State
	// Passed are the sockets poold's service manager passed to it
	// (systemd socket activation): without Adopt, Run takes each for the
	// [sockets.NAME] it matches instead of binding (sockets.BindPassed).
	Passed []sockets.Passed
	// Spawner, when set, is run by the caller (poold's binary serves it
	// on the main thread, which an upgrade's exec needs); Run only uses
	// it. Nil: Run runs one of its own.
	Spawner *spawn.Spawner
	// ReapOrphans makes poold the subreaper of its workers' orphans and
	// reaps them (poold's own binary sets it; in-process tests whose
	// other children it would take do not).
	ReapOrphans bool
	// GracePeriod is how long the orchestrator waits after SIGTERM
	// before SIGKILL, said by GraceFrom (Kubernetes' default
	// terminationGracePeriodSeconds, POOLD_TERMINATION_GRACE_PERIOD);
	// 0: none known. poold warns at start when its stop may take as long.
	GracePeriod time.Duration
	GraceFrom   string
	// GraceAdvice says what to do when the stop may outlast
	// GracePeriod, for the orchestrator poold runs under.
	GraceAdvice string
	// StuckAfter is how long one step of the event loop (a worker's
	// fork, a command) may run before Live, hence /healthz and systemd's
	// watchdog, calls the loop stuck rather than busy (step.go). 0:
	// [arbiter] stuck_after.
	StuckAfter time.Duration

	// holdSpawn, when set (tests), runs on the loop as a worker's start
	// waits for its fork: a step made to block.
	holdSpawn func()
}
