// Command poold runs pools of worker processes that share listening
// sockets, keeps them alive, and serves the control protocol, the event
// stream and the web console. It runs in the foreground and logs to stderr.
//
//	poold [flags] CONFIG
//
// SIGTERM/SIGINT stop every worker gracefully and exit 0 (a second one
// kills them at once); SIGHUP re-reads CONFIG.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/hashicorp/go-hclog"
	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher"
)

func main() {
	// Workers are started through poold's own binary (the exec shim).
	watcher.RunShimIfRequested()
	ctx := context.Background()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	os.Exit(exitCode(err, os.Stderr))
}

// usageError is bad command-line usage: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintln(stderr, "poold:", err)
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("poold", flag.ContinueOnError)
	fs.SetOutput(stderr)
	check := fs.Bool("check", false, "validate CONFIG, print the result and exit (0 valid, 1 not)")
	logLevel := fs.String("log-level", "", "trace, debug, info, warn or error (overrides arbiter.log_level)")
	logFormat := fs.String("log-format", "", "text or json (overrides arbiter.log_format)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: poold [flags] CONFIG\n\nRuns the watchers of CONFIG (TOML, YAML or JSON) in the foreground.\nSIGTERM/SIGINT stop gracefully, SIGHUP reloads CONFIG.\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return usageError{"expected exactly one CONFIG file argument, e.g. poold configs/example.toml"}
	}
	path := fs.Arg(0)
	cfg, err := configs.Load(path)
	if err != nil {
		return err
	}
	if *check {
		fmt.Fprintf(stdout, "%s: ok (%d sockets, %d watchers)\n", path, len(cfg.Sockets), len(cfg.Watchers))
		return nil
	}
	if *logLevel != "" {
		cfg.Arbiter.LogLevel = *logLevel
	}
	if *logFormat != "" {
		cfg.Arbiter.LogFormat = *logFormat
	}
	if hclog.LevelFromString(cfg.Arbiter.LogLevel) == hclog.NoLevel {
		return usageError{fmt.Sprintf("--log-level %q: use trace, debug, info, warn or error", cfg.Arbiter.LogLevel)}
	}
	if f := cfg.Arbiter.LogFormat; f != "text" && f != "json" {
		return usageError{fmt.Sprintf("--log-format %q: use text or json", f)}
	}
	log := hclog.New(&hclog.LoggerOptions{
		Name:       "poold",
		Level:      hclog.LevelFromString(cfg.Arbiter.LogLevel),
		Output:     stderr,
		JSONFormat: cfg.Arbiter.LogFormat == "json",
	})
	return serve(ctx, cfg, path, log)
}

// serve runs poold until a stop signal or the quit command.
func serve(ctx context.Context, cfg *configs.Config, path string, log hclog.Logger) error {
	bus := events.NewBus(nil)
	arb := arbiter.New(cfg, arbiter.Options{
		Log:    log,
		Events: bus,
		Load:   func() (*configs.Config, error) { return configs.Load(path) },
	})

	// The arbiter stops first, when a signal or quit asks it to; the
	// transports stop after it, so the events of the shutdown are published
	// and commands are answered until the end.
	arbCtx, stopArb := context.WithCancel(ctx)
	defer stopArb()
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)

	arbErr := make(chan error, 1)
	go func() { arbErr <- arb.Run(arbCtx) }()
	log.Info("poold started", "pid", os.Getpid(), "config", path,
		"watchers", len(cfg.Watchers), "sockets", len(cfg.Sockets))
	stops := 0
	for {
		select {
		case err := <-arbErr:
			if err != nil {
				return err
			}
			log.Info("poold stopped")
			return nil
		case sig := <-sigs:
			switch sig {
			case syscall.SIGHUP:
				log.Info("SIGHUP: reloading config", "config", path)
				arb.Reload()
			default:
				stops++
				if stops == 1 {
					log.Info("stopping gracefully; send the signal again to kill workers at once", "signal", sig)
					stopArb()
				} else {
					arb.Kill()
				}
			}
		}
	}
}
