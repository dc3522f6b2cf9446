package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/poold/poold/configs/rundir"
)

// Exit statuses.
const (
	exitOK          = 0
	exitReplyError  = 1 // poold answered "error", or a local failure
	exitUsage       = 2
	exitUnreachable = 3 // cannot connect, or no answer within --timeout
	// exitNotRunning (4, statuscheck.go): status --exit-code found a
	// watcher that should run and does not.
	exitInterrupted = 130
)

// Timeouts when --timeout is not given: a plain command gets its answer at
// once, so 5s means poold is stuck; with --waiting poold answers when the
// work is done, which takes up to the graceful_timeout of every process it
// stops, so the limit only catches a hang. A waited reload replaces every
// worker in batches of max_surge (by default all at once), each batch
// given up to ready_timeout to become ready, so with a small max_surge it
// can take many minutes on a large pool; so can a restart (every stop,
// then every start, band by band). poold bounds
// every step itself and answers with the failure (errno 6) when one fails,
// so this limit too only catches a poold that never answers.
const (
	defaultTimeout        = 5 * time.Second
	defaultWaitingTimeout = 2 * time.Minute
	defaultReloadTimeout  = time.Hour
)

// waitMode is what a call waits for, which sets its default timeout.
type waitMode int

const (
	noWait     waitMode = iota // poold answers at once
	waitWork                   // --waiting: start, stop, incr, ...
	waitReload                 // reload, reloadconfig and restart, waited by default
)

// usageError is bad command-line usage: exit 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// replyError is an error reply from poold: exit 1.
type replyError struct {
	reason string
	errno  int
}

func (e replyError) Error() string { return e.reason }

// connError is poold unreachable or not answering in time: exit 3.
type connError struct {
	msg string
	err error
}

func (e connError) Error() string { return e.msg }
func (e connError) Unwrap() error { return e.err }

// interruptedError is a wait cut short by SIGINT/SIGTERM: exit 130.
type interruptedError struct{ msg string }

func (e interruptedError) Error() string { return e.msg }

// runError marks an error returned by one of our commands (as opposed to
// cobra's own argument and flag errors, which are usage errors).
type runError struct{ err error }

func (e runError) Error() string { return e.err.Error() }
func (e runError) Unwrap() error { return e.err }

// app holds the global flags and the output streams of one run.
type app struct {
	stdout, stderr io.Writer
	// out is stdout as run gave it, for jsonFailure (stdout is out);
	// args are run's.
	out  *outWatch
	args []string

	endpoint     string
	endpointFrom string // "--endpoint", "POOLCTL_ENDPOINT", "CIRCUSCTL_ENDPOINT", "" (the default)
	pubsub       string
	timeout      durationValue
	waiting      bool
	quiet        bool // --quiet: no progress while waiting
	json         bool
	// escapeLogs: logs writes workers' control characters escaped (its
	// stdout is a terminal and --raw is not given).
	escapeLogs bool
	// logsSince: logs prints no line written before it (--since); zero:
	// every line. logsTail: the first batch is cut to its last logsTail
	// lines once that is done (-n with --since); 0: not cut.
	logsSince time.Time
	logsTail  int
	// logsStamps: logs prefixes each line with its time and pid (-t).
	logsStamps bool
	// logsPids: per watcher and wid, the pid of the lines logs printed
	// of it, or -1 once lines of several pids came: from then on each of
	// its lines names its pid ("2[4711] err| ...").
	logsPids map[slotKey]int
	// logsWidth: logs of every watcher (no NAME) precede each line with
	// its watcher's name, padded to this width; 0: logs of one watcher.
	logsWidth int
	// logsEvents: logs prints the workers' spawns, exits and stop
	// signals among their lines (--events); nil: not.
	logsEvents *eventFeed

	// The HTTPS API (--url): every command, and the fleet views.
	urlFlags  []string
	urls      []string // --url, POOLCTL_URL and --hosts-file together
	hostsFile string
	hostFiles map[string][2]string // per-host token and CA files (--hosts-file)
	tokenFile string
	caFile    string
}

// run executes poolctl with args (without the program name) and returns
// the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	out := &outWatch{w: stdout}
	a := &app{stdout: out, stderr: stderr, out: out, args: args}
	root := a.rootCommand()
	root.SetArgs(valueArgs(root, args))
	err := root.ExecuteContext(ctx)
	return a.exitCode(err)
}

// exitCode prints err (if any) and maps it to the exit status; with
// --json, a JSON object on stdout too when poold's reply is not there
// (jsonFailure).
func (a *app) exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	code, msg := a.report(err)
	a.jsonFailure(err, msg, code)
	return code
}

// report prints err on stderr and returns its exit status and message.
func (a *app) report(err error) (int, string) {
	var (
		ue usageError
		re replyError
		ce connError
		ie interruptedError
		rn runError
		nr notRunningError
	)
	var code int
	var msg string
	switch {
	case errors.As(err, &ue):
		code, msg = exitUsage, ue.msg
	case errors.As(err, &re):
		code, msg = exitReplyError, re.reason
	case errors.As(err, &ce):
		code, msg = exitUnreachable, ce.msg
	case errors.As(err, &ie):
		code, msg = exitInterrupted, ie.msg
	case errors.As(err, &nr):
		code, msg = exitNotRunning, nr.msg
	case errors.As(err, &rn):
		code, msg = exitReplyError, rn.err.Error()
	default:
		// Anything else comes from cobra: unknown command, bad flag,
		// wrong number of arguments.
		msg := strings.TrimRight(err.Error(), "\n")
		fmt.Fprintf(a.stderr, "poolctl: %s\n", msg)
		fmt.Fprintln(a.stderr, "Run 'poolctl --help' for the list of commands.")
		return exitUsage, msg
	}
	fmt.Fprintf(a.stderr, "poolctl: %s\n", escapeLines(msg))
	return code, msg
}

// escapeLines is escapeControls of each line of s: poold's reasons may
// hold several lines, and what a client sent (a watcher name with a
// terminal escape) must not act on the terminal.
func escapeLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = escapeControls(l)
	}
	return strings.Join(lines, "\n")
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "poolctl COMMAND [ARGS]",
		Short: "Control a running poold",
		Long: `poolctl sends one command to a running poold and prints the answer.

The control endpoint is --endpoint, else $POOLCTL_ENDPOINT, else
$CIRCUSCTL_ENDPOINT (circusctl's), else
` + rundir.ControlEndpoint() + `.
With --url https://host:port (or $POOLCTL_URL) poolctl talks to poold's
HTTPS control API instead, with the bearer token in --token-file; several
hosts (--url repeated, --hosts-file) merge status, stats and events.

reload and reloadconfig wait for the outcome (like systemctl reload) and
exit 1 when it failed; --no-wait only sends the request.

Exit status: 0 ok, 1 poold answered with an error (or a waited reload
failed), 2 bad usage, 3 poold unreachable or no answer within --timeout,
4 status --exit-code found a watcher that should run and does not,
130 interrupted while waiting (the work goes on in poold).`,
		SilenceErrors: true,
		SilenceUsage:  true,
		RunE: func(c *cobra.Command, args []string) error {
			return usagef("missing command; try 'poolctl status' or 'poolctl --help'")
		},
	}
	root.CompletionOptions.HiddenDefaultCmd = false
	root.Version = version
	root.SetVersionTemplate("poolctl {{.Version}}\n")
	root.SetFlagErrorFunc(flagError)

	pf := root.PersistentFlags()
	endpoint, _ := envEndpoint()
	if endpoint == "" {
		endpoint = rundir.ControlEndpoint()
	}
	pf.StringVar(&a.endpoint, "endpoint", endpoint, "poold control endpoint (env POOLCTL_ENDPOINT, else CIRCUSCTL_ENDPOINT)")
	pf.StringVar(&a.pubsub, "pubsub-endpoint", "", "poold event endpoint (default: asked from poold's globaloptions)")
	pf.Var(&a.timeout, "timeout", fmt.Sprintf("how long to wait for poold's answer, e.g. 10s or 10 (default %s, %s with --waiting, %s for a waited reload, reloadconfig or restart)",
		fmtDuration(defaultTimeout), fmtDuration(defaultWaitingTimeout), fmtDuration(defaultReloadTimeout)))
	pf.BoolVar(&a.waiting, "waiting", false, "let poold answer when the work is done (start, stop, incr, ...) and print progress on stderr; reload, reloadconfig and restart wait unless --no-wait")
	pf.BoolVar(&a.quiet, "quiet", false, "with a command that waits, print no progress on stderr (a reload of 2,000 workers prints 8,000 events), only the outcome")
	pf.BoolVar(&a.json, "json", false, "print poold's raw JSON reply")
	pf.StringArrayVar(&a.urlFlags, "url", nil, "talk to poold's HTTPS control API at https://host:port instead of --endpoint; repeat for a fleet view of status, stats and events (env POOLCTL_URL, comma-separated)")
	pf.StringVar(&a.hostsFile, "hosts-file", "", "a file of hosts for the fleet view, one \"URL [TOKEN_FILE [CA_FILE]]\" a line")
	pf.StringVar(&a.tokenFile, "token-file", os.Getenv("POOLCTL_TOKEN_FILE"), "file holding the API's bearer token (env POOLCTL_TOKEN_FILE); never pass a token itself on the command line")
	pf.StringVar(&a.caFile, "ca-file", os.Getenv("POOLCTL_CA_FILE"), "PEM certificate(s) to trust for --url, e.g. a self-signed one (env POOLCTL_CA_FILE)")
	root.PersistentPreRunE = func(c *cobra.Command, _ []string) error { return a.checkFlags(c) }

	root.AddGroup(
		&cobra.Group{ID: "query", Title: "Inspect:"},
		&cobra.Group{ID: "control", Title: "Control:"},
		&cobra.Group{ID: "live", Title: "Live views:"},
	)
	for _, s := range commandSpecs {
		root.AddCommand(a.command(s))
	}
	root.AddCommand(a.eventsCommand(), a.topCommand(), a.logsCommand(), a.upgradeCommand())
	foreignCommands(root)
	root.SetOut(a.stdout) // before the completion command takes its writer
	root.SetErr(a.stderr)
	strictCompletion(root)
	strictHelp(root)
	return root
}

// envEndpoint is the control endpoint the environment gives and the
// variable it came from: POOLCTL_ENDPOINT, else circusctl's
// CIRCUSCTL_ENDPOINT (a circusctl user's shell or script keeps it), else
// "", "".
func envEndpoint() (endpoint, from string) {
	for _, v := range []string{"POOLCTL_ENDPOINT", "CIRCUSCTL_ENDPOINT"} {
		if ep := os.Getenv(v); ep != "" {
			return ep, v
		}
	}
	return "", ""
}

// checkFlags runs before every command: it notes where the control
// endpoint came from (for messages), refuses a --pubsub-endpoint poolctl
// cannot dial, and gathers the API URLs.
func (a *app) checkFlags(c *cobra.Command) error {
	if c.Flags().Changed("endpoint") {
		a.endpointFrom = "--endpoint"
	} else if _, from := envEndpoint(); from != "" {
		a.endpointFrom = from
	}
	if a.pubsub != "" {
		if err := checkEndpoint(a.pubsub); err != nil {
			return usagef("--pubsub-endpoint %s: %v", a.pubsub, err)
		}
	}
	return a.initURLs()
}

// strictCompletion makes `poolctl completion` without a shell, or with
// one it does not know, a usage error: cobra's own prints its help and
// exits 0, so a typo in an install script went unnoticed.
func strictCompletion(root *cobra.Command) {
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() != "completion" {
			continue
		}
		var shells []string
		for _, sh := range c.Commands() {
			shells = append(shells, sh.Name())
		}
		usage := "usage: poolctl completion " + strings.Join(shells, "|")
		c.Args = cobra.ArbitraryArgs
		c.RunE = func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("completion: missing SHELL (%s)", usage)
			}
			return usagef("completion: unknown shell %q (%s)", args[0], usage)
		}
	}
}

// strictHelp makes `poolctl help NOSUCH` a usage error naming the word,
// as `poolctl NOSUCH` is: cobra's own prints "Unknown help topic" and
// the whole usage, and exits 0.
func strictHelp(root *cobra.Command) {
	root.InitDefaultHelpCmd()
	for _, c := range root.Commands() {
		if c.Name() != "help" {
			continue
		}
		show := c.Run
		c.Run = nil
		c.RunE = func(c *cobra.Command, args []string) error {
			if found, _, err := root.Find(args); found == nil || err != nil || (len(args) > 0 && found == root) {
				return usagef("help: unknown command %q; 'poolctl --help' lists the commands", strings.Join(args, " "))
			}
			show(c, args)
			return nil
		}
	}
}

// flagError is the usage error for a bad flag of c, pointing to its help.
func flagError(c *cobra.Command, err error) error {
	if !c.HasParent() { // a flag before the command: poolctl's own
		return usagef("%v (see 'poolctl --help')", err)
	}
	return usagef("%s: %v (see 'poolctl %s --help')", c.Name(), err, commandPath(c))
}

func commandPath(c *cobra.Command) string {
	return strings.TrimPrefix(c.CommandPath(), "poolctl ")
}

// timeoutFor is --timeout, else the default for what the call waits for.
func (a *app) timeoutFor(w waitMode) time.Duration {
	if a.timeout.set {
		return a.timeout.d
	}
	switch w {
	case waitWork:
		return defaultWaitingTimeout
	case waitReload:
		return defaultReloadTimeout
	}
	return defaultTimeout
}

// durationValue is a flag taking a Go duration ("10s", "1m30s") or plain
// seconds ("10", "2.5") as Circus's --timeout does.
type durationValue struct {
	d   time.Duration
	set bool
}

var _ pflag.Value = (*durationValue)(nil)

func (v *durationValue) String() string {
	if !v.set {
		return ""
	}
	return fmtDuration(v.d)
}

func (v *durationValue) Set(s string) error {
	d, err := parseDuration(s)
	if err != nil {
		return err
	}
	v.d, v.set = d, true
	return nil
}

func (v *durationValue) Type() string { return "duration" }

func parseDuration(s string) (time.Duration, error) {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if f <= 0 || math.IsNaN(f) {
			return 0, fmt.Errorf("must be > 0, got %s", s)
		}
		// float64(math.MaxInt64) is 2^63, one past the largest Duration:
		// a product that reaches it would wrap to a negative Duration.
		if f*float64(time.Second) >= float64(math.MaxInt64) {
			return 0, fmt.Errorf("%s seconds is too large: at most %d seconds (about 292 years)", s, int64(math.MaxInt64/time.Second))
		}
		return time.Duration(math.Round(f * float64(time.Second))), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration, or too large (write 10s, 1m30s or a number of seconds, at most %s)", s, time.Duration(math.MaxInt64).Truncate(time.Hour))
	}
	if d <= 0 {
		return 0, fmt.Errorf("must be > 0, got %s", s)
	}
	return d, nil
}

// fmtDuration prints 5s, 2m, 1m30s, 1.5s (no trailing zero units).
func fmtDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
