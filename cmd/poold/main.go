// Command poold runs pools of worker processes that share listening
// sockets, keeps them alive, and serves the control protocol, the event
// stream and the web console. It runs in the foreground and logs to stderr
// through a bounded queue: a stderr that stops taking lines costs lines
// (counted, and reported once it recovers), never supervision.
//
//	poold [flags] CONFIG
//
// SIGTERM/SIGINT/SIGQUIT stop every worker gracefully and exit 0 (a second one
// kills them at once); SIGHUP re-reads CONFIG, or stops poold as SIGTERM
// does once the terminal it was started on has hung up; SIGUSR1 reopens the
// workers' log files (after logrotate in create mode).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/arbiter/controller"
	"github.com/poold/poold/arbiter/logsink"
	"github.com/poold/poold/cmd/poold/catch"
	"github.com/poold/poold/configs"
	"github.com/poold/poold/events/zmqpub"
	"github.com/poold/poold/sockets"
	"github.com/poold/poold/watcher/launch"
	"github.com/poold/poold/watcher/spawn"
	"github.com/poold/poold/web"
)

func main() {
	// Workers are started through poold's own binary (the exec shim).
	spawn.RunShimIfRequested()
	// Before anything else happens in this image: it may be replaced.
	unblockInheritedSignals()
	keepName()
	stopTTOU := stopOnTerminalWrites()
	var stdin io.Reader
	if fi, err := os.Stdin.Stat(); err == nil && fi.Mode()&os.ModeCharDevice == 0 {
		stdin = os.Stdin // a state to decode, from a pre-flight; never a terminal
	}
	if asked, err := printVersion(os.Args[1:], stdin, os.Stdout); asked {
		os.Exit(exitCode(err, os.Stderr))
	}
	// What an upgrade re-executes: this binary's path, read again from
	// disk, with the environment poold was given (NOTIFY_SOCKET too).
	caughtSignals = catch.Caught()
	// Sockets systemd passed (socket activation); their variables leave
	// the environment before startEnv keeps it for an upgrade's exec.
	passed, foreign, passedErr := sockets.TakePassed(os.Getpid())
	passedForeign = foreign
	startEnv = os.Environ()
	selfExe = startPath(os.Args[0])
	if err := takeOver(); err != nil {
		os.Exit(exitCode(err, os.Stderr))
	}
	if passedErr != nil {
		os.Exit(exitCode(passedErr, os.Stderr))
	}
	if adoptState == nil { // an upgrade's image has its sockets in the state
		passedSockets = passed
	}
	// A reader of stderr that went away (poold cfg 2>&1 | head) must cost
	// log lines, not poold and every worker with it. With SIGPIPE caught,
	// a write to fd 1 or 2 fails with EPIPE instead of killing the process
	// (os/signal, "SIGPIPE"). Caught rather than ignored: an ignored
	// signal stays ignored across exec, in every worker; exec resets a
	// caught one. Nobody reads the channel: signal.Notify never blocks.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	// The binary, not run (which tests call in-process, among children
	// of their own), reaps the orphans of workers.
	reapOrphans = true
	// Workers are forked from the main thread (see upgrade.go): run runs
	// on another goroutine while this one serves the spawner.
	// The exec shim's binary is the file running now, not what selfExe
	// may name after a deploy switched a link.
	running, _ := os.Executable()
	mainSpawner = spawn.New(running)
	spawnCtx, stopSpawner := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		errc <- run(context.Background(), os.Args[1:], os.Stdout, os.Stderr)
		stopSpawner()
	}()
	if err := mainSpawner.RunOnMain(spawnCtx); err != nil {
		fmt.Fprintln(os.Stderr, "poold:", err)
		os.Exit(exitFailure)
	}
	code := exitCode(<-errc, os.Stderr)
	stopTTOU()
	os.Exit(code)
}

// startHold, set only by this package's tests, runs where start-up has
// caught its signals and is about to read the config: a test holds poold
// there to send it signals during its start-up (a config that is a FIFO
// did that until such files were refused).
var startHold func()

// passedSockets are the sockets systemd passed to poold's binary; set by
// main (see arbiter.Options.Passed). passedForeign, set by main too, is
// socket activation meant for another process, which run reports.
var (
	passedSockets []sockets.Passed
	passedForeign *sockets.Foreign
)

// reapOrphans makes the arbiter the subreaper of workers' orphans; set by
// main (see arbiter.Options.ReapOrphans).
var reapOrphans bool

// flushGrace bounds how long poold waits at exit for its last log lines
// to reach a stderr that does not take them.
const flushGrace = 2 * time.Second

func run(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	if len(args) > 0 && args[0] == "convert" {
		return runConvert(args[1:], stdout, stderr)
	}
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if o.check {
		return asConfigError(checkOnly(o, stdout, stderr))
	}
	// The error poold exits with, in the format of its log once that is
	// known: the flag's, then the file's (exitCode writes it).
	format := o.logFormat
	defer inLogFormat(&err, &format)
	sigs, stopCatching := catchSignals()
	defer stopCatching()
	if startHold != nil {
		startHold()
	}
	cfg, fileErr := loadPartial(o.path, o.strict, io.Discard)
	if fileErr != nil {
		if adoptState == nil { // refused: with the machine's problems, as --check lists them
			fileErr = everyProblem(o.path, cfg, fileErr)
		}
		cfg = nil // what could be decoded served only that
	}
	startWarnings(cfg, o.path, &format, stderr)
	switch {
	case adoptState != nil:
		// An upgrade's new image runs the config as it ran, with run-time
		// changes; a file that turned bad since the pre-flight is
		// reported (and by every reload until fixed), not fatal. Its
		// warnings join the upgrade's outcome (upgrade_status).
		// So do the settings of the state this build does not know.
		if cfg != nil {
			adoptState.Outcome.Warnings = cfg.Warnings
		}
		adoptState.Outcome.Warnings = append(adoptState.Outcome.Warnings, adoptState.Config.Warnings...)
		cfg = adoptState.Config
	case fileErr != nil:
		return configError{fileErr}
	}
	machineErr := launch.CheckAll(o.path, cfg.Watchers)
	if err := missingIDs(machineErr); err != nil && adoptState == nil {
		return configError{locatedIn(cfg, o.path, err)}
	}
	machineErr = locatedIn(cfg, o.path, machineErr)
	o.override(cfg)
	if err := logFlagsError(cfg.Arbiter); err != nil {
		return err
	}
	logs := logsink.New(stderr, logsink.Options{})
	go logs.Run()
	defer func() {
		logs.Close()
		select {
		case <-logs.Done():
		case <-time.After(flushGrace):
			// stderr is stuck: its writer stays blocked until poold exits.
		}
	}()
	log := newLogger(cfg.Arbiter, logs)
	ttouLog.Store(&log)
	warnAtStart(log, o.path, fileErr, machineErr)
	return serve(ctx, cfg, o.path, o.reloader(cfg, log), log, logs, sigs)
}

// startWarnings writes the warnings of cfg, the config read at start
// from path, to stderr: as text, or as JSON records at level warn when
// poold logs in JSON (format, the flag's, else set here to the file's).
// Straight to stderr, as the text always was: a start that fails before
// poold's log is up must not lose them.
func startWarnings(cfg *configs.Config, path string, format *string, stderr io.Writer) {
	if cfg == nil {
		return
	}
	if *format == "" {
		*format = cfg.Arbiter.LogFormat
	}
	if *format != "json" {
		printWarnings(stderr, cfg.Warnings)
		return
	}
	log := hclog.New(&hclog.LoggerOptions{Name: "poold", Output: stderr, JSONFormat: true})
	for _, w := range cfg.Warnings {
		log.Warn("config warning", "config", path, "warning", w)
	}
}

// logFlagsError refuses a log level or format (--log-level, --log-format
// or the file) that poold cannot log with.
func logFlagsError(c configs.Arbiter) error {
	if hclog.LevelFromString(c.LogLevel) == hclog.NoLevel {
		return usageError{fmt.Sprintf("--log-level %q: use trace, debug, info, warn or error", c.LogLevel)}
	}
	if f := c.LogFormat; f != "text" && f != "json" {
		return usageError{fmt.Sprintf("--log-format %q: use text or json", f)}
	}
	return nil
}

// warnAtStart logs, once poold's log is up, what start went past: the
// settings of an upgrade's previous image this build dropped, a config
// file (at path) that cannot be read now (fileErr, an upgrade runs on
// what it was handed), sockets passed for another pid, and watchers
// that cannot start as configured (machineErr).
func warnAtStart(log hclog.Logger, path string, fileErr, machineErr error) {
	if adoptState != nil {
		for _, w := range adoptState.Config.Warnings {
			log.Warn("upgrade: settings of the previous image dropped", "warning", w)
		}
	}
	if adoptState != nil && fileErr != nil {
		log.Warn("upgrade: the config file cannot be read now; running on with the config handed over by the previous image; fix the file (a reload reports the same error until then)", "config", path, "error", fileErr)
	}
	if f := passedForeign; f != nil {
		log.Warn("ignored the sockets the service manager passed: LISTEN_PID names another process, not poold (a wrapper that forked poold?); "+
			"run poold from the wrapper with exec, so that it keeps the pid the service manager started, or set LISTEN_PID to poold's pid",
			"listen_pid", f.ListenPID, "pid", os.Getpid(), "listen_fds", f.ListenFDs, "closed", f.Closed)
	}
	if machineErr != nil {
		// As circusd, start anyway: these watchers retry with backoff
		// while the rest serve. A reload leaves them be until they change.
		log.Warn("starting with watchers that cannot start as configured (poold --check reports the same); they retry with backoff", "problems", machineErr)
	}
}

// catchSignals starts taking poold's signals (catch.Signals) into the
// returned channel, for its signal loop to act on once the arbiter runs;
// stop undoes it. From the start of a run that serves, not from the
// signal loop's: reading the config, checking the watchers and binding
// the endpoints take a while (seconds on a busy host), and a SIGHUP then
// (a deploy tool, logrotate) ended poold, or a SIGTERM left it exiting
// by that signal instead of 0. An upgrade's new image caught them from
// its start already (package catch).
func catchSignals() (sigs <-chan os.Signal, stop func()) {
	if caughtSignals != nil { // an upgrade's new image: catch took them at init
		catch.Add(initSignals()...)
		return caughtSignals, func() {}
	}
	// Read before Notify, which takes an ignored SIGHUP over.
	hupIgnored = signal.Ignored(syscall.SIGHUP)
	c := make(chan os.Signal, 16)
	signal.Notify(c, append(append([]os.Signal(nil), catch.Signals...), initSignals()...)...)
	return c, func() { signal.Stop(c) }
}

// hupIgnored: poold started with SIGHUP ignored (nohup poold ...): its
// user asked it to outlive the terminal, so a hangup's SIGHUP reloads,
// as any other (hangup.go). An upgrade's new image cannot tell (the old
// image ignores SIGHUP for the exec): takeOver reads it from the
// environment the old image gave it (upgrade.EnvHupIgnored).
var hupIgnored bool

// missingIDs keeps the problems of err (launch.CheckAll's) about a
// watcher's uid or gid, nil when there are none. poold refuses to start
// on those, as before they were machine checks: a watcher is made with
// its user's ids, so it could not even retry. A running watcher keeps the
// ids it was made with, so a reload only checks the watchers it adds or
// changes.
func missingIDs(err error) error {
	var ce *configs.Error
	if !errors.As(err, &ce) {
		return err
	}
	var ids []configs.Problem
	for _, p := range ce.Problems {
		if strings.HasSuffix(p.Key, ".uid") || strings.HasSuffix(p.Key, ".gid") {
			ids = append(ids, p)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	return &configs.Error{File: ce.File, Problems: ids}
}

// reloader returns what a reload calls to read CONFIG again. A config
// warning is logged the first time a reload meets it (those of the start
// were printed then): the environment an override warning is about stays
// as it is until poold restarts, and would otherwise be logged by every
// reload.
func (o cmdline) reloader(start *configs.Config, log hclog.Logger) func() (*configs.Config, error) {
	var mu sync.Mutex // reloads may overlap (SIGHUP, reloadconfig)
	said := map[string]bool{}
	if start != nil {
		for _, w := range start.Warnings {
			said[w] = true
		}
	}
	return func() (*configs.Config, error) {
		c, err := loadPartial(o.path, o.strict, io.Discard)
		if err != nil {
			// Refused, applying nothing: with the machine's problems
			// too, as --check lists them.
			return nil, everyProblem(o.path, c, err)
		}
		o.override(c)
		if n, cut := cutShort(o.path); cut {
			log.Warn("config reload: the file does not end in a newline, as a write cut short (a full disk) leaves it, and is applied as it reads: check that it is whole (poold --check), and write configs by rename",
				"config", o.path, "bytes", n)
		}
		mu.Lock()
		defer mu.Unlock()
		for _, w := range c.Warnings {
			if !said[w] {
				said[w] = true
				log.Warn("config reload warning", "warning", w)
			}
		}
		return c, nil
	}
}

// newLogger logs into logs, the bounded queue in front of stderr: nothing
// poold logs can block the event loop or the readers of worker output.
// Once stderr takes lines again after some were dropped, the logger says
// how many, straight to stderr (at most every 10 s, logsink.Options).
func newLogger(c configs.Arbiter, logs *logsink.Sink) hclog.Logger {
	opts := hclog.LoggerOptions{
		Name:       "poold",
		Level:      hclog.LevelFromString(c.LogLevel),
		Output:     logs,
		JSONFormat: c.LogFormat == "json",
	}
	logs.OnDrops(func(out io.Writer, d logsink.Drops) {
		report := opts
		report.Output = out
		reportDrops(hclog.New(&report), d)
	})
	return withDurations(hclog.New(&opts))
}

// reconfigure applies what a reloaded config changes outside the arbiter:
// the log level and the console's [web] settings. It returns the changed
// settings that need a restart. It runs on the arbiter's loop.
func reconfigure(log hclog.Logger, console *web.Server, probes *web.ProbeServer, c *configs.Config) []string {
	if lvl := hclog.LevelFromString(c.Arbiter.LogLevel); lvl != hclog.NoLevel && lvl != log.GetLevel() {
		log.Info("log level changed by config reload", "log_level", c.Arbiter.LogLevel)
		log.SetLevel(lvl)
	}
	restart := map[string]bool{}
	switch {
	case console != nil:
		for _, k := range console.Reconfigure(c.Web) {
			restart[k] = true
		}
	case c.Web.Enabled:
		restart["web.enabled"] = true
	}
	switch {
	case probes != nil:
		for _, k := range probes.Reconfigure(c.Web) {
			restart[k] = true
		}
	case c.Web.MetricsAddress != "":
		restart["web.metrics_address"] = true
	}
	return slices.Sorted(maps.Keys(restart))
}

// setACL applies arbiter.control_allow and control_read_only to the
// control endpoint. Their form was validated by configs, so an error is
// not expected: the rules in force then stay. A rule whose user or group
// does not exist (deleted since, or a typo a start let through) matches
// nobody, and is logged each time the rules are applied.
func setACL(log hclog.Logger, ctl *controller.Controller, c *configs.Config) {
	acl, err := controller.NewACL(c.Arbiter.ControlAllow, c.Arbiter.ControlReadOnly)
	if err != nil {
		log.Error("control access rules not applied; the previous ones stay", "error", err)
		return
	}
	for _, why := range acl.Unknown() {
		log.Warn("control access rule matches nobody until its user or group exists", "problem", why)
	}
	ctl.SetACL(acl)
}

// wireBackend hands the console replies exactly as a remote client decodes
// them (numbers as float64, lists as []any), so in-process and wire
// behaviour cannot drift apart.
type wireBackend struct{ a *httpView }

func (b wireBackend) Do(ctx context.Context, req arbiter.Request) arbiter.Reply {
	r := b.a.Do(ctx, req)
	raw, err := json.Marshal(r)
	if err != nil {
		return arbiter.Fail(req.ID, err)
	}
	var out arbiter.Reply
	if err := json.Unmarshal(raw, &out); err != nil {
		return arbiter.Fail(req.ID, err)
	}
	return out
}

// pubDropped counts what a publisher lost for slow subscribers: in its bus
// queue and in the per-peer buffers of its transport (refused while full,
// or still buffered when a subscriber was evicted or went away).
func pubDropped(p *zmqpub.Publisher) func() uint64 {
	return func() uint64 {
		st := p.Stats()
		return st.Dropped + st.Guard.Dropped
	}
}

// pubEvicted counts a publisher's subscribers evicted for not reading.
func pubEvicted(p *zmqpub.Publisher) func() uint64 {
	return func() uint64 { return p.Stats().Guard.Evicted }
}
