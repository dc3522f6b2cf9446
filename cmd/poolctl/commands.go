package main

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// cmdSpec describes one control command: its positional form, and how
// the arguments and flags become the request's properties.
type cmdSpec struct {
	name  string
	args  string // positional form for help and messages: "NAME [NB]"
	group string
	short string
	long  string
	// example: lines of typical use for the help (cobra's Example).
	example string
	// waits: long-running on poold; --waiting applies.
	waits bool
	// waitsByDefault: poolctl waits for the outcome unless --no-wait, as
	// systemctl reload and restart do (reload, reloadconfig, restart).
	waitsByDefault bool
	// waitHelp ends the help of a command that waits by default (what it
	// waits for, --no-wait); waitsByDefaultHelp when empty.
	waitHelp string
	// nameArg: the first positional is a watcher name (completion).
	nameArg bool
	// flags adds the command's own flags.
	flags func(fs *pflag.FlagSet)
	// props builds the properties from the positional arguments (already
	// checked against args for their count) and the command's flags.
	props func(c *cobra.Command, args []string) (map[string]any, error)
	// verdict, when set, gives the judge of the reply (its flags may
	// turn it on): status --exit-code.
	verdict func(c *cobra.Command) verdict
}

// commandSpecs is the command set, in the order of PROTOCOL.md.
var commandSpecs = []cmdSpec{
	{name: "list", args: "[NAME]", group: "query", nameArg: true,
		short: "List watcher names, or the pids of watcher NAME",
		props: optionalName},
	{name: "status", args: "[NAME]", group: "query", nameArg: true,
		short: "Status of every watcher, or of NAME (active, starting, stopping, stopped, flapping, failed)",
		long:  statusHelp,
		flags: statusFlags, verdict: statusVerdict,
		props: optionalName},
	{name: "numwatchers", group: "query", short: "Number of watchers"},
	{name: "numprocesses", args: "[NAME]", group: "query", nameArg: true,
		short: "Number of live processes, in total or of NAME",
		props: optionalName},
	{name: "start", args: "[NAME]", group: "control", waits: true, nameArg: true,
		short: "Start watcher NAME, or every watcher",
		flags: matchFlag, props: matchedName},
	{name: "stop", args: "[NAME]", group: "control", waits: true, nameArg: true,
		short: "Stop watcher NAME, or every watcher (gracefully)",
		flags: matchFlag, props: matchedName},
	{name: "restart", args: "[NAME]", group: "control", waits: true, waitsByDefault: true, nameArg: true,
		short:    "Stop the workers of NAME (or of every watcher), then start new ones (none serves in between); waits for them",
		waitHelp: restartWaitHelp,
		flags:    matchFlag, props: matchedName},
	{name: "reload", args: "[NAME]", group: "control", waits: true, waitsByDefault: true, nameArg: true,
		short: "Replace the processes of NAME (or of every watcher), new before old (a singleton's old one first); waits for the outcome",
		flags: func(fs *pflag.FlagSet) {
			fs.Bool("terminate", false, "stop the old processes first instead of a graceful rolling reload")
			fs.Bool("sequential", false, "replace one process at a time")
		},
		props: func(c *cobra.Command, args []string) (map[string]any, error) {
			p, _ := optionalName(c, args)
			terminate, _ := c.Flags().GetBool("terminate")
			sequential, _ := c.Flags().GetBool("sequential")
			p["graceful"] = !terminate
			p["sequential"] = sequential
			return p, nil
		}},
	{name: "incr", args: "NAME [NB]", group: "control", waits: true, nameArg: true,
		short: "Add NB processes (default 1) to watcher NAME; prints the new target",
		props: scaleProps},
	{name: "decr", args: "NAME [NB]", group: "control", waits: true, nameArg: true,
		short: "Remove NB processes (default 1) from watcher NAME; prints the new target",
		props: scaleProps},
	{name: "add", args: "NAME CMD [ARG...]", group: "control", waits: true,
		short:   "Add a watcher NAME running CMD ARG... (everything after CMD, flags and -- included, is its command line; poolctl's flags go before NAME)",
		example: "  poolctl add --start worker python3 -m worker --queue jobs\n  poolctl --waiting add --start migrate sh -c 'exec ./manage.py migrate'",
		flags: func(fs *pflag.FlagSet) {
			fs.Bool("start", false, "start the new watcher at once")
		},
		props: addProps},
	{name: "rm", args: "NAME", group: "control", waits: true, nameArg: true,
		short: "Stop and remove watcher NAME",
		flags: func(fs *pflag.FlagSet) {
			fs.Bool("nostop", false, "remove the watcher but leave its processes running, unmanaged")
		},
		props: func(c *cobra.Command, args []string) (map[string]any, error) {
			nostop, _ := c.Flags().GetBool("nostop")
			return map[string]any{"name": args[0], "nostop": nostop}, nil
		}},
	{name: "get", args: "NAME KEY...", group: "query", nameArg: true,
		short:   "Print options KEY... of watcher NAME",
		example: "  poolctl get web numprocesses graceful_timeout\n  poolctl options web      (every option)",
		props: func(c *cobra.Command, args []string) (map[string]any, error) {
			return map[string]any{"name": args[0], "keys": args[1:]}, nil
		}},
	{name: "set", args: "NAME KEY VALUE...", group: "control", waits: true, nameArg: true,
		short: "Set options of watcher NAME: KEY VALUE [KEY VALUE...]",
		long: `Set options of watcher NAME. Each VALUE is read as JSON when it is valid
JSON (8, 2.5, true, ["a","b"]) and as a string otherwise (10s, TERM, 022).

A VALUE may begin with "-": poolctl reads it as the value, not as a flag.

  poolctl set web numprocesses 8
  poolctl set web graceful_timeout 30s stop_signal INT
  poolctl set web nice -5`,
		props: setProps},
	{name: "reset", args: "NAME [KEY...]", group: "control", waits: true, nameArg: true,
		short: "Give the keys of watcher NAME set at run time (or only KEY...) the config file's values again",
		long:  resetHelp,
		props: func(c *cobra.Command, args []string) (map[string]any, error) {
			p := map[string]any{"name": args[0]}
			if len(args) > 1 {
				p["keys"] = args[1:]
			}
			return p, nil
		}},
	{name: "options", args: "NAME", group: "query", nameArg: true,
		short: "Print every option of watcher NAME",
		props: func(c *cobra.Command, args []string) (map[string]any, error) {
			return map[string]any{"name": args[0]}, nil
		}},
	{name: "globaloptions", args: "[OPTION]", group: "query",
		short: "Print poold's global options (endpoints, pid, config, ...)",
		props: func(c *cobra.Command, args []string) (map[string]any, error) {
			p := map[string]any{}
			if len(args) > 0 {
				p["option"] = args[0]
			}
			return p, nil
		}},
	{name: "signal", args: "NAME [PID] SIGNAL", group: "control", nameArg: true,
		short:   "Send SIGNAL (HUP, USR1, 15, ...) to the processes of NAME, or to one PID",
		example: "  poolctl signal web HUP\n  poolctl signal web 4711 USR1\n  poolctl signal web TERM --children   (the workers' own children)",
		flags: func(fs *pflag.FlagSet) {
			fs.Bool("children", false, "signal the processes' children instead")
			fs.Bool("recursive", false, "signal each process and everything it started (its process group, its descendants, its cgroup)")
		},
		props: func(c *cobra.Command, args []string) (map[string]any, error) {
			p := map[string]any{"name": args[0], "signum": args[len(args)-1]}
			if err := checkSignal(c, "SIGNAL", args[len(args)-1]); err != nil {
				return nil, swappedSignal(c, args, err)
			}
			if len(args) == 3 {
				pid, err := positiveInt(c, "PID", args[1])
				if err != nil {
					return nil, err
				}
				p["pid"] = pid
			}
			p["children"], _ = c.Flags().GetBool("children")
			p["recursive"], _ = c.Flags().GetBool("recursive")
			return p, nil
		}},
	{name: "kill", args: "NAME [PID]", group: "control", waits: true, nameArg: true,
		short: "Stop the processes of NAME (or one PID) now: signal, grace period, SIGKILL",
		long: `Stop the processes of NAME (or one PID) now: send --signal (default the
watcher's stop_signal), wait up to --graceful-timeout, then SIGKILL.
circusctl's spellings work too: --signum for --signal, --graceful_timeout
for --graceful-timeout.`,
		example: "  poolctl kill web\n  poolctl kill web 4711 --signal INT\n  poolctl kill web --signal KILL --graceful-timeout 0",
		flags: func(fs *pflag.FlagSet) {
			fs.SetNormalizeFunc(circusKillFlags)
			fs.String("signal", "", "signal to send first (default: the watcher's stop_signal)")
			fs.String("graceful-timeout", "", "grace period before SIGKILL, e.g. 5s or 5 (default: the watcher's)")
		},
		props: func(c *cobra.Command, args []string) (map[string]any, error) {
			p := map[string]any{"name": args[0]}
			if len(args) == 2 {
				pid, err := positiveInt(c, "PID", args[1])
				if err != nil {
					return nil, err
				}
				p["pid"] = pid
			}
			if s, _ := c.Flags().GetString("signal"); s != "" {
				if err := checkSignal(c, "--signal", s); err != nil {
					return nil, err
				}
				p["signum"] = s
			}
			if g, _ := c.Flags().GetString("graceful-timeout"); g != "" {
				d, err := parseGrace(g)
				if err != nil {
					return nil, usagef("kill: --graceful-timeout: %v", err)
				}
				p["graceful_timeout"] = d.Seconds()
			}
			return p, nil
		}},
	{name: "stats", args: "[NAME [PID]]", group: "query", nameArg: true,
		short: "Process table (pid, wid, state, cpu, mem, rss, age, restarts) of every watcher, NAME, or one PID",
		flags: func(fs *pflag.FlagSet) {
			fs.Bool("extended", false, "add each process's open file descriptors over its soft RLIMIT_NOFILE (FDS; a readdir per process, so only when asked); poold lists every worker's children anyway and has no extended_stats hook")
		},
		props: func(c *cobra.Command, args []string) (map[string]any, error) {
			p, _ := optionalName(c, args)
			if len(args) == 2 {
				pid, err := positiveInt(c, "PID", args[1])
				if err != nil {
					return nil, err
				}
				p["process"] = pid
			}
			if ext, _ := c.Flags().GetBool("extended"); ext {
				p["extended"] = true
			}
			return p, nil
		}},
	{name: "dstats", group: "query", short: "poold's own process statistics"},
	{name: "listsockets", group: "query", short: "The listening sockets poold holds"},
	{name: "reloadconfig", group: "control", waits: true, waitsByDefault: true,
		short: "Re-read poold's config file and apply the differences; waits for the outcome"},
	{name: "reopen", args: "[NAME]", group: "control", nameArg: true,
		short: "Reopen the worker log files of NAME (or of every watcher) before their next line, after logrotate",
		props: optionalName},
	{name: "quit", group: "control", waits: true,
		short: "Stop every watcher and make poold exit"},
}

// resetHelp is the long help of `poolctl reset`.
const resetHelp = `A config reload keeps the keys a set, incr or decr changed when the file
left them alone, so putting an old file back does not undo a
'poolctl set web max_cpu 40' of hours ago ('poolctl status web' lists such
keys). reset gives every such key of watcher NAME, or only KEY..., the
value the config file gives it, as a reload would have had the file
changed it: new workers replace the old ones (new before old) when the
change needs it, the pool scales when numprocesses changes. The file is
the one poold last loaded; run 'poolctl reloadconfig' first to read it
again. Like systemctl revert, it is poold's own command (Circus has none).

KEY is an option as in the file (max_cpu), an entry of rlimits or hooks
(rlimits.nofile), or rlimits / hooks for all their entries. A KEY that runs
as the file gives it is refused (errno 5), an unknown one too (errno 3):
nothing is changed then. Prints "KEY: FROM -> TO" for each key reset.

  poolctl reset web
  poolctl reset web numprocesses max_cpu`

// arity is what a positional form allows: "NAME [NB]" = 1..2,
// "NAME KEY..." = 2..unlimited (-1), "[NAME [PID]]" = 0..2.
func arity(form string) (min, max int, required []string) {
	depth := 0
	for _, w := range strings.Fields(form) {
		opens := strings.Count(w, "[")
		depth += opens
		variadic := strings.HasSuffix(strings.Trim(w, "[]"), "...")
		if depth == 0 {
			min++
			required = append(required, strings.TrimSuffix(w, "..."))
		}
		if variadic {
			max = -1
		} else if max >= 0 {
			max++
		}
		depth -= strings.Count(w, "]")
	}
	return min, max, required
}

// checkArgs returns a cobra.PositionalArgs that names what is missing or
// extra, with the command's usage.
func checkArgs(s cmdSpec) cobra.PositionalArgs {
	min, max, required := arity(s.args)
	usage := strings.TrimSpace("poolctl " + s.name + " " + s.args)
	return func(c *cobra.Command, args []string) error {
		if len(args) < min {
			missing := required[len(args)]
			what := missing
			if missing == "NAME" {
				what = "watcher NAME"
			}
			hint := ""
			if missing == "NAME" {
				hint = "; 'poolctl list' shows the watchers"
			}
			return usagef("%s: missing %s (usage: %s%s)", s.name, what, usage, hint)
		}
		if max >= 0 && len(args) > max {
			extra := make([]string, len(args)-max)
			for i, a := range args[max:] {
				extra[i] = strconv.Quote(a)
			}
			return usagef("%s: too many arguments: %s left over after %d (usage: %s)", s.name, strings.Join(extra, " "), max, usage)
		}
		return nil
	}
}

// command builds the cobra command for s.
func (a *app) command(s cmdSpec) *cobra.Command {
	c := &cobra.Command{
		Use:     strings.TrimSpace(s.name + " " + s.args),
		Short:   s.short,
		Long:    s.long,
		Example: s.example,
		GroupID: s.group,
		Args:    checkArgs(s),
		RunE: func(c *cobra.Command, args []string) error {
			props := map[string]any{}
			if s.props != nil {
				var err error
				if props, err = s.props(c, args); err != nil {
					return err
				}
			}
			wait, err := a.waitFor(c, s)
			if err != nil {
				return err
			}
			what := strings.TrimSpace(s.name + " " + strings.Join(args, " "))
			name, _ := props["name"].(string)
			cl := call{command: s.name, what: what, props: props, waits: s.waits, wait: wait, watcher: name}
			if s.verdict != nil {
				cl.verdict = s.verdict(c)
			}
			return a.do(c.Context(), cl)
		},
	}
	if c.Long == "" && (s.waits || s.waitsByDefault) {
		c.Long = s.short + "." // cobra shows Long instead of Short
	}
	switch {
	case s.waitsByDefault:
		help := s.waitHelp
		if help == "" {
			help = waitsByDefaultHelp
		}
		c.Long += "\n\n" + help
		c.Flags().Bool("no-wait", false, "only send the request; do not wait for the outcome")
	case s.waits:
		c.Long = strings.TrimSpace(c.Long + "\n\nWith --waiting poold answers when the work is done; progress goes to stderr.")
	}
	if s.flags != nil {
		s.flags(c.Flags())
	}
	if s.name == "add" {
		// Everything after CMD belongs to the worker's command line.
		c.Flags().SetInterspersed(false)
	}
	c.ValidArgsFunction = a.completer(s)
	return c
}

// waitsByDefaultHelp ends the help of reload and reloadconfig.
var waitsByDefaultHelp = `poolctl waits for the outcome, printing progress on stderr, and exits 1
if the work failed, with poold's reason: a config file poold rejected
(nothing was changed), or a rolling reload poold abandoned (that watcher's
old workers keep serving). When poold reports it, what became of each
watcher is printed, one line each: NAME: added, removed, updated,
unchanged, rolled back: REASON, or cut short: REASON (a stop or rm that
came in ended its rolling reload; exit 1 too). A changed setting that keeps its old
value until poold restarts (an endpoint, [web] address) is listed too,
"setting KEY: changed, not applied: ...", with a warning on stderr; the
exit status stays 0, since the rest applied.

--no-wait only sends the request and exits 0 once poold has taken it.
The default --timeout for the wait is ` + fmtDuration(defaultReloadTimeout) + `: poold bounds each step itself
(ready_timeout, graceful_timeout), so the limit only catches a poold that
never answers. Ctrl-C stops the waiting, not the reload.`

// restartWaitHelp ends the help of restart.
var restartWaitHelp = `restart is a stop, then a start (Circus's restart): every worker stops
first, so the watcher's sockets are served by no worker for as long as the
stop takes (up to graceful_timeout) plus the new workers' boot; connections
wait in the sockets' backlogs meanwhile. To deploy without that gap, use
'poolctl reload NAME', which starts the new workers before it stops the old
(but for a singleton, whose worker never runs beside another: a reload
stops it first too).

poolctl waits until the new workers run (are ready), printing progress on
stderr, and exits 1 if a slot was left without a worker, with poold's
reason. --no-wait only sends the request and exits 0 once poold has taken
it, as circusctl restart does. The default --timeout for the wait is ` + fmtDuration(defaultReloadTimeout) + `:
poold bounds each step itself (graceful_timeout, ready_timeout), so the
limit only catches a poold that never answers. Ctrl-C stops the waiting,
not the restart.`

// waitFor decides what the call of s waits for: reload, reloadconfig and
// restart wait unless --no-wait; other long-running commands only with --waiting.
func (a *app) waitFor(c *cobra.Command, s cmdSpec) (waitMode, error) {
	switch {
	case !s.waits:
		return noWait, nil
	case !s.waitsByDefault && a.waiting:
		return waitWork, nil
	case !s.waitsByDefault:
		return noWait, nil
	}
	if no, _ := c.Flags().GetBool("no-wait"); no {
		if a.waiting {
			return noWait, usagef("%s: --waiting and --no-wait contradict each other; %s waits by default, so drop --waiting", s.name, s.name)
		}
		return noWait, nil
	}
	return waitReload, nil
}

// completer completes watcher names from the running poold, option keys
// for get/set, and signal names for signal.
func (a *app) completer(s cmdSpec) cobra.CompletionFunc {
	return func(c *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		switch {
		case len(args) == 0 && s.nameArg:
			return a.watcherNames(c.Context()), cobra.ShellCompDirectiveNoFileComp
		case len(args) >= 1 && (s.name == "get" || s.name == "reset" || (s.name == "set" && len(args)%2 == 1)):
			return watcherOptionKeys, cobra.ShellCompDirectiveNoFileComp
		case len(args) >= 1 && s.name == "signal":
			return []string{"HUP", "INT", "QUIT", "TERM", "KILL", "USR1", "USR2", "TTIN", "TTOU", "WINCH", "CONT", "STOP"}, cobra.ShellCompDirectiveNoFileComp
		}
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
}

// watcherNames asks poold for the watcher names, for completion; any
// failure completes nothing.
func (a *app) watcherNames(ctx context.Context) []string {
	if a.initURLs() != nil {
		return nil
	}
	client, err := a.dial()
	if err != nil {
		return nil
	}
	defer client.Close()
	_, r, err := a.roundTrip(ctx, client, call{command: "list", what: "list"}, time.Second)
	if err != nil {
		return nil
	}
	var names []string
	ws, _ := r["watchers"].([]any)
	for _, w := range ws {
		if s, ok := w.(string); ok {
			names = append(names, s)
		}
	}
	return names
}
