package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/hashicorp/go-hclog"
	"github.com/poold/poold/configs"
)

// cmdline is poold's command line: CONFIG and its flags.
type cmdline struct {
	path                      string
	check, configOnly, strict bool
	logLevel, logFormat       string
}

func parseFlags(args []string, stderr io.Writer) (cmdline, error) {
	var o cmdline
	if err := circusdFlag(args); err != nil {
		return o, err
	}
	fs := flag.NewFlagSet("poold", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&o.check, "check", false, "validate CONFIG, print the result and exit (0 valid, 78 not)")
	fs.StringVar(&o.logLevel, "log-level", "", "trace, debug, info, warn or error (overrides arbiter.log_level)")
	fs.StringVar(&o.logFormat, "log-format", "", "text or json (overrides arbiter.log_format)")
	fs.BoolVar(&o.configOnly, "config-only", false, "with --check: check the config's syntax and values only, not whether the watchers' programs can start (what an upgrade's pre-flight checks)")
	fs.BoolVar(&o.strict, "strict", false, "with a Circus or supervisord CONFIG: an option without a poold equivalent is an error, not a warning")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: poold [flags] CONFIG\n       poold convert [--strict] FILE > poold.toml\n       poold --version\n\nRuns the watchers of CONFIG (TOML, YAML or JSON, or a Circus circus.ini\nor supervisord file) in the foreground.\nSIGTERM/SIGINT/SIGQUIT stop gracefully, SIGHUP reloads CONFIG,\nSIGUSR1 reopens the workers' log files, SIGUSR2 upgrades poold in place\n(re-executes its binary, keeping workers and sockets; poolctl upgrade waits for it).\n\nflags:")
		fs.PrintDefaults()
	}
	path, err := parseOneFile(fs, args, "expected exactly one CONFIG file argument, e.g. poold configs/example.toml")
	o.path = path
	if err != nil {
		return o, err
	}
	o.logLevel = circusdLevel(o.logLevel)
	return o, o.validate()
}

// validate refuses flag values poold could not run with, before anything
// runs: --check says ok only to a command line that would start, and
// --config-only alone would otherwise start poold in full instead of
// checking.
func (o cmdline) validate() error {
	if o.configOnly && !o.check {
		return usageError{"--config-only works with --check only (poold --check --config-only " + o.path + "); without --check poold would start"}
	}
	if o.logLevel != "" && hclog.LevelFromString(o.logLevel) == hclog.NoLevel {
		return usageError{fmt.Sprintf("--log-level %q: use trace, debug, info, warn or error", o.logLevel)}
	}
	if f := o.logFormat; f != "" && f != "text" && f != "json" {
		return usageError{fmt.Sprintf("--log-format %q: use text or json", f)}
	}
	return nil
}

// override applies the flags that win over the file, at start and on
// every reload, so a reload neither undoes them nor reports them as
// changes.
func (o cmdline) override(c *configs.Config) {
	if o.logLevel != "" {
		c.Arbiter.LogLevel = o.logLevel
	}
	if o.logFormat != "" {
		c.Arbiter.LogFormat = o.logFormat
	}
}

// parseOneFile parses args into fs and returns its one file argument; with
// none or several it prints the usage and says what was expected (missing).
func parseOneFile(fs *flag.FlagSet, args []string, missing string) (string, error) {
	// The flag package prints a bad flag's error above the usage; the
	// caller prints it again below ("poold: ..."), once is enough.
	out := fs.Output()
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	fs.SetOutput(out)
	if err != nil {
		fs.Usage()
		if errors.Is(err, flag.ErrHelp) {
			return "", err
		}
		return "", usageError{err.Error()}
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return "", usageError{missing}
	}
	return fs.Arg(0), nil
}
