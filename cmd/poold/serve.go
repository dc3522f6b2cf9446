package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/arbiter/controller"
	"github.com/poold/poold/arbiter/logsink"
	"github.com/poold/poold/arbiter/sdnotify"
	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/events/zmqguard"
	"github.com/poold/poold/events/zmqpub"
	"github.com/poold/poold/web"
)

// daemon is one running poold: the arbiter and everything that talks to
// the world for it.
type daemon struct {
	cfg           *configs.Config
	path          string
	log           hclog.Logger
	bus, statsBus *events.Bus
	arb           *arbiter.Arbiter
	ctl           *controller.Controller
	pub, statsPub *zmqpub.Publisher
	sd            *sdnotify.Notifier // nil without NOTIFY_SOCKET
	sdEnv         sdnotify.Env
	// console and probes are set before the arbiter runs; after that
	// only OnConfig, on the arbiter's loop, reads them.
	console *web.Server
	probes  *web.ProbeServer
	view    *httpView // the arbiter as they see it, through a hand-over
	// sigs are the signals caught since the run began (catchSignals).
	sigs <-chan os.Signal
	// term is the terminal poold had at start: the SIGHUP of its hangup
	// stops poold (hangup.go). Nil once poold outlived that hangup, and
	// without a terminal.
	term *terminal
}

// serve runs poold until a stop signal or the quit command.
//
// Start-up binds everything that can fail (control endpoint, event and
// stats streams, console) before the arbiter starts a single worker, so a
// second poold on the same endpoints or a taken console port fails fast and
// leaves nothing behind. Shutdown runs the other way: the arbiter stops
// every worker first while the transports keep running, so the shutdown's
// events are published and commands answered to the end; then the
// transports stop.
func serve(ctx context.Context, cfg *configs.Config, path string, load func() (*configs.Config, error), log hclog.Logger, logs *logsink.Sink, sigs <-chan os.Signal) error {
	d, err := newDaemon(cfg, path, load, log, logs)
	if err != nil {
		return err
	}
	d.sigs = sigs
	if !hupIgnored {
		d.term = openTerminal()
	}
	defer d.term.close()
	transCtx, stopTransports := context.WithCancel(context.Background())
	defer stopTransports()
	var wg sync.WaitGroup
	failed := make(chan error, 8)
	goRun := func(name string, run func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(transCtx); err != nil {
				failed <- fmt.Errorf("%s: %w", name, explainBind(err, path))
			}
		}()
	}
	// Whatever happens below, the transports stop and are waited for.
	defer wg.Wait()
	defer stopTransports()

	up, err := d.startTransports(ctx, goRun, failed)
	if moved := closeUnclaimed(); len(moved) > 0 {
		log.Info("upgrade: listeners the config no longer names were closed", "listeners", moved)
	}
	if !up {
		return err
	}
	return d.supervise(ctx, failed)
}

// newDaemon builds the arbiter, its control endpoint and event streams,
// binding nothing yet.
func newDaemon(cfg *configs.Config, path string, load func() (*configs.Config, error), log hclog.Logger, logs *logsink.Sink) (*daemon, error) {
	for _, ep := range []string{cfg.Arbiter.Endpoint, cfg.Arbiter.PubSubEndpoint, cfg.Arbiter.StatsEndpoint} {
		if strings.HasPrefix(ep, "ipc://"+configs.RuntimeDir()+"/") {
			dir := configs.RuntimeDir()
			was, err := configs.EnsureRuntimeDir(dir)
			if configs.DiskFull(err) {
				return nil, configs.RuntimeDirFull(dir, err) // passes once space is freed: exit 1
			}
			if err != nil {
				return nil, configError{err} // the next start meets it again
			}
			if was != "" {
				log.Info("made the runtime directory private (mode 0700): it is poold's own but was open to others, as a volume made for a container is (a Kubernetes emptyDir)",
					"dir", dir, "mode_was", was)
			}
			break
		}
	}
	// Taken before any worker starts, so none can inherit poold's socket.
	sdEnv, err := sdnotify.TakeEnv()
	if err != nil {
		return nil, err
	}
	grace, graceFrom, err := gracePeriod(os.Getenv)
	if err != nil {
		return nil, configError{err}
	}
	d := &daemon{cfg: cfg, path: path, log: log, bus: events.NewBus(nil), statsBus: events.NewBus(nil), sdEnv: sdEnv}
	d.bus.KeepHistory(cfg.Arbiter.EventHistory)
	var lifecycle arbiter.Lifecycle
	if sdEnv.Socket != "" {
		d.sd = sdnotify.New(sdnotify.Options{Socket: sdEnv.Socket, Watchdog: sdEnv.Watchdog, Events: d.bus, Log: log.Named("systemd"),
			Upgraded: adoptState != nil, StartOwed: arbiter.StartOwedHandedOver(adoptState)})
		lifecycle = d.sd
	}
	up := upgrader(path, log, d.beginHandOver, d.drainForExec(logs), d.resumeHTTP)
	if up != nil && d.sd != nil {
		up.StartOwed = func() bool { return !d.sd.Told() }
	}
	d.arb = arbiter.New(cfg, arbiter.Options{
		Log:    log,
		Logs:   logs,
		Events: d.bus,
		// d.pub and d.statsPub are set below, before any command runs.
		Streams: func() map[string]any {
			return streamFigures(map[string]*zmqpub.Publisher{"events": d.pub, "stats": d.statsPub})
		},
		Load:        load,
		ReapOrphans: reapOrphans,
		GracePeriod: grace,
		GraceFrom:   graceFrom,
		GraceAdvice: graceAdvice(os.Getenv),
		OnConfig: func(c *configs.Config) []string {
			setACL(log, d.ctl, c)
			return reconfigure(log, d.console, d.probes, c)
		},
		Lifecycle: lifecycle,
		// What poold's listeners hold, for a spawn that found no fd.
		ControlConns: zmqguard.SharedBudget.Held,
		Upgrade:      up,
		Adopt:        adoptState,
		Passed:       passedSockets,
		Spawner:      mainSpawner,
	})
	if mainSpawner != nil {
		mainSpawner.SetWarn(log.Named("spawn").Warn) // its fallbacks, in poold's log
	}
	d.ctl = controller.New(cfg.Arbiter.Endpoint, d.arb.Handle, log.Named("controller"))
	d.ctl.AllowNonLoopback = cfg.Arbiter.AllowRemote
	setACL(log, d.ctl, cfg)
	d.pub = zmqpub.New(cfg.Arbiter.PubSubEndpoint, d.bus, log.Named("events"))
	d.statsPub = zmqpub.New(cfg.Arbiter.StatsEndpoint, d.statsBus, log.Named("stats"), zmqpub.WithConfigKey("arbiter.stats_endpoint"))
	return d, nil
}

// drainForExec is the Upgrader's Drain: what poold does on the loop just
// before an upgrade's exec.
func (d *daemon) drainForExec(logs *logsink.Sink) func() {
	return func() {
		// The HTTP listeners' requests are answered without the loop
		// since the exec step began (beginHandOver).
		holdIfAsked(envTestHoldOld)
		if d.sd != nil {
			d.sd.Reloading()
		}
		// What the streams hold or queue, before the exec takes it:
		// an image upgraded again within its wait for the previous
		// image's subscribers holds its first events.
		ctx, cancel := context.WithTimeout(context.Background(), flushGrace)
		d.pub.Flush(ctx)
		d.statsPub.Flush(ctx)
		cancel()
		logs.Drain(flushGrace)
		// Last: until now the HTTP listeners took connections.
		if d.handOverHTTP() {
			logs.Drain(flushGrace)
		}
	}
}

// beginHandOver is the Upgrader's Begin: on the loop, as the exec step
// begins. The loop is blocked from here to the exec: what the HTTP
// listeners take is answered without it (httpView), with the state as it
// is now. end: the exec did not happen, the loop answers again.
func (d *daemon) beginHandOver() (end func()) {
	var now *arbiter.Snapshot
	if d.console != nil || d.probes != nil { // a snapshot of 10,000 workers is not free
		s := d.arb.SnapshotOnLoop()
		now = &s
	}
	d.view.begin(now)
	return d.view.resume
}

// startTransports binds and runs the control endpoint, the event and
// stats streams, the console and metrics listeners, the stats sampler and
// the service-manager notifier. up is false when poold must not go on: err
// says why (every address that cannot be bound, notBound), or is nil when
// ctx ended first.
func (d *daemon) startTransports(ctx context.Context, goRun func(string, func(context.Context) error), failed chan error) (up bool, err error) {
	goRun(streamNames[0], d.ctl.Run)
	goRun(streamNames[1], d.pub.Run)
	goRun(streamNames[2], d.statsPub.Run)
	errs, ended := awaitStreams(ctx, failed, [3]<-chan struct{}{d.ctl.Ready(), d.pub.Ready(), d.statsPub.Ready()})
	switch {
	case ended:
		return false, nil
	case len(errs) > 0:
		return false, d.notBound(errs, nil)
	}
	d.view = newHTTPView(d.arb)
	h := httpParts{cfg: d.cfg, arb: d.view, bus: d.bus, statsBus: d.statsBus, log: d.log, goRun: goRun, failed: failed,
		dropped: map[string]func() uint64{"events": pubDropped(d.pub), "stats": pubDropped(d.statsPub)},
		evicted: map[string]func() uint64{"events": pubEvicted(d.pub), "stats": pubEvicted(d.statsPub)}}
	if adoptState != nil {
		h.hold, h.adopted = d.arb.Up(), true
	}
	if err := h.start(); err != nil {
		return false, d.notBound([]error{err}, &h)
	}
	d.console, d.probes = h.console, h.probes
	if h.adopted {
		holdIfAsked(envTestHoldUp) // the listeners made, the loop not up
	}
	// /proc is read for the stats stream only while someone listens: a
	// subscriber of the stats endpoint or an open console.
	wanted := func() bool {
		return d.statsPub.Stats().Guard.Conns > 0 || (d.console != nil && d.console.Consoles() > 0)
	}
	goRun("stats sampler", func(ctx context.Context) error {
		return d.arb.RunStatsWhen(ctx, d.cfg.Arbiter.StatsInterval, d.statsBus, wanted)
	})
	if d.sd != nil {
		// Stops with the transports, after the arbiter: STOPPING=1 and
		// the last STATUS= are sent by then.
		goRun("systemd notify", func(ctx context.Context) error { return d.sd.Run(ctx, d.arb) })
		d.log.Info("notifying the service manager", "notify_socket", d.sdEnv.Socket, "watchdog", d.sdEnv.Watchdog)
	}
	return true, nil
}

// supervise runs the arbiter and answers signals until it stops (quit, a
// stop signal, or a transport that failed).
func (d *daemon) supervise(ctx context.Context, failed <-chan error) error {
	arbCtx, stopArb := context.WithCancel(ctx)
	defer stopArb()
	sigs := d.sigs

	arbErr := make(chan error, 1)
	go func() { arbErr <- d.arb.Run(arbCtx) }()
	up := d.arb.Up()
	stops := 0
	hung, stopWatch := d.term.watchHangup()
	defer stopWatch()
	var forget <-chan time.Time // hangupWindow after the hangup
	var hungTTY string
	for {
		select {
		case hungTTY = <-hung:
			hung = nil
			forget = time.After(hangupWindow)
		case <-forget:
			forget = nil
			d.forgetTerminal(hungTTY, stops)
		case <-up:
			up = nil
			cfg := d.cfg
			d.log.Info("poold started", "pid", os.Getpid(), "config", d.path,
				"watchers", len(cfg.Watchers), "sockets", len(cfg.Sockets),
				"endpoint", cfg.Arbiter.Endpoint, "pubsub_endpoint", cfg.Arbiter.PubSubEndpoint)
		case err := <-arbErr:
			if err != nil {
				return err
			}
			d.log.Info("poold stopped")
			return nil
		case err := <-failed:
			// A transport died: stop the workers, then report it.
			d.log.Error("stopping: a transport failed", "error", err)
			stopArb()
			<-arbErr
			return err
		case sig := <-sigs:
			d.onSignal(sig, &stops, stopArb)
		}
	}
}

// forgetTerminal drops the terminal that hung up hangupWindow ago with
// no SIGHUP following: poold outlived it, and every later SIGHUP is a
// reload (hangup.go).
func (d *daemon) forgetTerminal(tty string, stops int) {
	d.term.close()
	d.term = nil
	if stops == 0 {
		d.log.Info("the terminal hung up and poold runs on without it; a SIGHUP reloads the config from now on", "terminal", tty)
	}
}

// onSignal acts on sig, a signal caught while the arbiter runs; stops
// counts the stop requests so far and stopArb stops the arbiter.
func (d *daemon) onSignal(sig os.Signal, stops *int, stopArb func()) {
	if sig = d.asInit(sig); sig == nil {
		return
	}
	switch sig {
	// Each is logged once the arbiter holds it: a hand-over in
	// flight passes it to the new image (see the upgrade tests).
	case syscall.SIGHUP:
		if hung, tty := d.term.hungUp(); hung {
			// One stop: the shell passes the hangup on after the
			// kernel, and a second stop request would pass SIGHUP on
			// to the workers (a reload to gunicorn).
			if *stops == 0 {
				*stops = 1
				stopArb()
				d.log.Info("the terminal hung up: stopping, as on SIGTERM", "terminal", tty)
			}
			return
		}
		d.arb.Reload()
		d.log.Info("SIGHUP: reloading config", "config", d.path)
	case syscall.SIGUSR1:
		d.arb.Reopen() // worker log files, after logrotate (create mode)
		d.log.Info("SIGUSR1: reopening worker log files")
	case syscall.SIGUSR2:
		d.arb.Upgrade() // it logs the upgrade, or why it is refused
	case syscall.SIGTTIN, syscall.SIGTTOU:
		d.jobControl(sig)
	default:
		// The second is passed on to the workers (a job
		// runner's cold shutdown), the third kills them.
		switch *stops++; *stops {
		case 1:
			stopArb()
			d.log.Info("stopping gracefully; send the signal again to pass it on to the workers being stopped, "+
				"a third time to kill every worker at once", "signal", signalName(sig))
		case 2:
			d.arb.Hurry(sig.(syscall.Signal))
		default:
			d.arb.Kill()
		}
	}
}

// serveHeld serves l with serve once h.hold is closed; it closes l and
// returns nil when ctx ends first. A probe the new image answered before
// would find the arbiter's loop not running yet (it adopts the workers,
// seconds on a busy machine) and fail with a 503 after a second;
// meanwhile it waits in the listener's backlog instead.
func (h *httpParts) serveHeld(ctx context.Context, l net.Listener, serve func(context.Context, net.Listener) error) error {
	if h.hold != nil {
		select {
		case <-h.hold:
		case <-ctx.Done():
			l.Close()
			return nil
		}
	}
	return serve(ctx, l)
}

// listenerBudget joins an HTTP listener to the budget of connections all
// of poold's listeners share (the control endpoint, the event and stats
// streams and the HTTP listeners): half of RLIMIT_NOFILE, so the other
// half stays for the workers and poold's own files.
func listenerBudget(name string, shed func() bool) web.BudgetAccount {
	return zmqguard.SharedBudget.Join(name, shed)
}
