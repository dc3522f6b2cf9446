package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/poold/poold/configs"
)

// cmdSpec describes one control command: its positional form, and how
// the arguments and flags become the request's properties.
type cmdSpec struct {
	name  string
	args  string // positional form for help and messages: "NAME [NB]"
	group string
	short string
	long  string
	// waits: long-running on poold; --waiting applies.
	waits bool
	// waitsByDefault: poolctl waits for the outcome unless --no-wait, as
	// systemctl reload does (reload, reloadconfig).
	waitsByDefault bool
	// nameArg: the first positional is a watcher name (completion).
	nameArg bool
	// flags adds the command's own flags.
	flags func(fs *pflag.FlagSet)
	// props builds the properties from the positional arguments (already
	// checked against args for their count) and the command's flags.
	props func(c *cobra.Command, args []string) (map[string]any, error)
}

// commandSpecs is the command set, in the order of PROTOCOL.md.
var commandSpecs = []cmdSpec{
	{name: "list", args: "[NAME]", group: "query", nameArg: true,
		short: "List watcher names, or the pids of watcher NAME",
		props: optionalName},
	{name: "status", args: "[NAME]", group: "query", nameArg: true,
		short: "Status of every watcher, or of NAME (active, starting, stopping, stopped, flapping, failed)",
		long:  statusHelp,
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
	{name: "restart", args: "[NAME]", group: "control", waits: true, nameArg: true,
		short: "Stop then start watcher NAME, or every watcher",
		flags: matchFlag, props: matchedName},
	{name: "reload", args: "[NAME]", group: "control", waits: true, waitsByDefault: true, nameArg: true,
		short: "Replace the processes of NAME (or of every watcher), new before old; waits for the outcome",
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
		short: "Add a watcher NAME running CMD ARG... (everything after CMD, flags and -- included, is its command line; poolctl's flags go before NAME)",
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
		short: "Print options KEY... of watcher NAME",
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
		short: "Send SIGNAL (HUP, USR1, 15, ...) to the processes of NAME, or to one PID",
		flags: func(fs *pflag.FlagSet) {
			fs.Bool("children", false, "signal the processes' children instead")
			fs.Bool("recursive", false, "signal each process's whole process group")
		},
		props: func(c *cobra.Command, args []string) (map[string]any, error) {
			p := map[string]any{"name": args[0], "signum": args[len(args)-1]}
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
			fs.Bool("extended", false, "ask for extended information")
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
			return usagef("%s: too many arguments: %s (usage: %s)", s.name, strings.Join(args[max:], " "), usage)
		}
		return nil
	}
}

// addProps reads NAME CMD [ARG...]. poolctl's flags end at NAME (what
// follows CMD is the worker's command line), so a flag written between
// NAME and CMD, `add web --start sh`, would become the program itself:
// refused, with the order that works. A program whose name starts with
// '-' can still be given as ./-name.
func addProps(c *cobra.Command, args []string) (map[string]any, error) {
	name, prog := args[0], args[1]
	if prog == "--" {
		return nil, usagef("add: %q after NAME %q would be the program to run; leave it out: everything after CMD is already its command line (usage: poolctl add [--start] NAME CMD [ARG...])", prog, name)
	}
	if strings.HasPrefix(prog, "-") {
		rest := "CMD [ARG...]"
		if len(args) > 2 {
			rest = strings.Join(args[2:], " ")
		}
		return nil, usagef("add: %q after NAME %q would be the program to run; put poolctl's flags before NAME: poolctl add %s %s %s (a program named %s: write ./%s)",
			prog, name, prog, name, rest, prog, prog)
	}
	start, _ := c.Flags().GetBool("start")
	p := map[string]any{"name": name, "cmd": prog, "start": start}
	if len(args) > 2 {
		p["args"] = args[2:]
		warnFlagsAfterCmd(c, name, args[2:])
	}
	return p, nil
}

// parseGrace reads kill's --graceful-timeout as parseDuration does, and
// 0 too, as poold takes it (and graceful_timeout = 0 in a config): SIGKILL
// right after the signal.
func parseGrace(s string) (time.Duration, error) {
	f, ferr := strconv.ParseFloat(s, 64)
	d, derr := time.ParseDuration(s)
	switch {
	case (ferr == nil && f < 0) || (derr == nil && d < 0):
		return 0, fmt.Errorf("must be >= 0 (0 sends SIGKILL right after the signal), got %s", s)
	case (ferr == nil && f == 0) || (derr == nil && d == 0):
		return 0, nil
	}
	return parseDuration(s)
}

func optionalName(c *cobra.Command, args []string) (map[string]any, error) {
	p := map[string]any{}
	if len(args) > 0 {
		p["name"] = args[0]
	}
	return p, nil
}

// matchFlag is circusctl's --match of start, stop and restart.
func matchFlag(fs *pflag.FlagSet) {
	fs.String("match", "", "how NAME matches watcher names: glob (the default: web-*), regex or simple")
}

// matchedName is optionalName with --match.
func matchedName(c *cobra.Command, args []string) (map[string]any, error) {
	p, _ := optionalName(c, args)
	if m, _ := c.Flags().GetString("match"); m != "" {
		p["match"] = m
	}
	return p, nil
}

// circusKillFlags reads circusctl's names of kill's flags as poolctl's:
// --signum is --signal, --graceful_timeout --graceful-timeout.
func circusKillFlags(_ *pflag.FlagSet, name string) pflag.NormalizedName {
	switch name {
	case "signum":
		name = "signal"
	case "graceful_timeout":
		name = "graceful-timeout"
	}
	return pflag.NormalizedName(name)
}

func scaleProps(c *cobra.Command, args []string) (map[string]any, error) {
	p := map[string]any{"name": args[0], "nb": 1}
	if len(args) == 2 {
		nb, err := strconv.Atoi(args[1])
		if err != nil || nb < 0 {
			return nil, usagef("%s: NB must be a whole number >= 0, got %q (usage: poolctl %s NAME [NB])", c.Name(), args[1], c.Name())
		}
		p["nb"] = nb
	}
	return p, nil
}

// warnFlagsAfterCmd warns on stderr of each of poolctl's own flags among
// the worker's words of add: they go to the worker, not to poolctl, so
// circusctl's form `add web CMD --start` added a stopped watcher whose
// workers got a --start, and an --endpoint there was not the poold asked.
func warnFlagsAfterCmd(c *cobra.Command, name string, words []string) {
	for _, w := range words {
		flag, _, _ := strings.Cut(strings.TrimPrefix(w, "--"), "=")
		if !strings.HasPrefix(w, "--") || flag == "help" || c.Flags().Lookup(flag) == nil {
			continue
		}
		fmt.Fprintf(c.ErrOrStderr(), "poolctl: warning: %s comes after CMD, so it is an argument of the worker, not a flag of poolctl; put poolctl's flags before NAME (poolctl add %s %s ...)\n",
			w, w, name)
	}
}

func setProps(c *cobra.Command, args []string) (map[string]any, error) {
	kv := args[1:]
	if len(kv)%2 != 0 {
		return nil, usagef("set: option %q has no VALUE (usage: poolctl set NAME KEY VALUE [KEY VALUE...])", kv[len(kv)-1])
	}
	opts := map[string]any{}
	for i := 0; i < len(kv); i += 2 {
		opts[kv[i]] = parseValue(kv[i+1])
		if _, list := opts[kv[i]].([]any); !list && (kv[i] == "args" || kv[i] == "cmd") {
			// Command-line words: "200" or "true" is a word, as circusctl
			// sends it, not a JSON number or bool (refused for these keys).
			opts[kv[i]] = kv[i+1]
		}
	}
	return map[string]any{"name": args[0], "options": opts}, nil
}

// parseValue reads a set VALUE as JSON when it is valid JSON, else as a
// string: "8" is a number, "true" a bool, "10s" and "022" strings.
func parseValue(s string) any {
	var v any
	if err := json.Unmarshal([]byte(s), &v); err == nil {
		return v
	}
	return s
}

// positiveInt reads argument what of c, naming c and its usage if it is
// not a whole number > 0.
func positiveInt(c *cobra.Command, what, s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0, usagef("%s: %s must be a positive whole number, got %q (usage: poolctl %s)", c.Name(), what, s, c.Use)
	}
	return n, nil
}

// command builds the cobra command for s.
func (a *app) command(s cmdSpec) *cobra.Command {
	c := &cobra.Command{
		Use:     strings.TrimSpace(s.name + " " + s.args),
		Short:   s.short,
		Long:    s.long,
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
			return a.do(c.Context(), call{command: s.name, what: what, props: props, waits: s.waits, wait: wait, watcher: name})
		},
	}
	if c.Long == "" && (s.waits || s.waitsByDefault) {
		c.Long = s.short + "." // cobra shows Long instead of Short
	}
	switch {
	case s.waitsByDefault:
		c.Long += "\n\n" + waitsByDefaultHelp
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
unchanged, or rolled back: REASON. A changed setting that keeps its old
value until poold restarts (an endpoint, [web] address) is listed too,
"setting KEY: changed, not applied: ...", with a warning on stderr; the
exit status stays 0, since the rest applied.

--no-wait only sends the request and exits 0 once poold has taken it.
The default --timeout for the wait is ` + fmtDuration(defaultReloadTimeout) + `: poold bounds each step itself
(ready_timeout, graceful_timeout), so the limit only catches a poold that
never answers. Ctrl-C stops the waiting, not the reload.`

// waitFor decides what the call of s waits for: reload and reloadconfig
// wait unless --no-wait; other long-running commands only with --waiting.
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
		case len(args) >= 1 && (s.name == "get" || (s.name == "set" && len(args)%2 == 1)):
			return configs.WatcherOptionKeys(), cobra.ShellCompDirectiveNoFileComp
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
