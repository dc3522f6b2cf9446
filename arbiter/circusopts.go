package arbiter

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/poold/poold/arbiter/upgrade"
	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher"
	"github.com/poold/poold/watcher/procinfo"
)

// circusShaped renders a watcher's options (configs.WatcherOptions) in the
// shapes Circus gives the options it defines, for the options and get
// replies, so that Circus's clients read them as they read circusd's
// (circusctl's options and get format env as a dict):
//
//	env               {"KEY": "VALUE"}, not ["KEY=VALUE"]
//	args              one string, the words shell-quoted ("" for none;
//	                  options gives the shape add or set gave it)
//	stop_signal       the signal's number (15)
//	uid, gid          null when unset, else the numeric id (a name that does
//	                  not resolve here stays a string)
//	graceful_timeout  a float (5.0)
//
// poold's own options keep their shapes. set and add take both forms
// (fromCircus).
func circusShaped(opts map[string]any) map[string]any {
	if env, ok := opts["env"].([]string); ok {
		m := make(map[string]any, len(env))
		for _, kv := range env {
			k, v, _ := strings.Cut(kv, "=")
			m[k] = v
		}
		opts["env"] = m
	}
	if args, ok := opts["args"].([]string); ok {
		opts["args"] = configs.QuoteCommand(args)
	}
	if s, ok := opts["stop_signal"].(string); ok {
		if sig, err := configs.ParseSignal(s); err == nil {
			opts["stop_signal"] = int(sig)
		}
	}
	opts["uid"] = circusID(opts["uid"], lookupUID)
	opts["gid"] = circusID(opts["gid"], lookupGID)
	if g, ok := opts["graceful_timeout"].(float64); ok {
		opts["graceful_timeout"] = procinfo.Float(g)
	}
	return opts
}

// circusOnlyOptions adds to opts, w's options, the Circus option names
// that set takes and poold keeps under another name or has no key for,
// with the value get answers for each, so that options has every name
// get takes, as circusd's options does:
//
//	max_retry           flapping_max_retry
//	close_child_stdin   true: poold always gives workers /dev/null
//	close_child_stdout  as the last set gave it (which changes nothing
//	close_child_stderr  while the watcher runs), else whether that
//	                    stream's sink is "none"
//	shell               whether cmd and args run through /bin/sh -c (add's
//	                    or set's shell: true, a circus.ini's shell = true)
//	shell_args          the words after that line (a circus.ini's
//	                    shell_args), null for none as circusd's default
func (a *Arbiter) circusOnlyOptions(w *watcher.Watcher, opts map[string]any) {
	opts["max_retry"] = opts["flapping_max_retry"]
	opts["close_child_stdin"] = true
	sinks := map[string]string{"close_child_stdout": w.Spec().Logs.Stdout, "close_child_stderr": w.Spec().Logs.Stderr}
	for key, sink := range sinks {
		b, set := a.closeChildGot(w, key)
		if !set {
			b = sink == configs.LogToNone
		}
		opts[key] = b
	}
	shell, shellArgs := shellWrapped(w.Spec().Cmd, w.Spec().Args)
	opts["shell"], opts["shell_args"] = shell, nil
	if len(shellArgs) > 0 {
		opts["shell_args"] = configs.QuoteCommand(shellArgs)
	}
	a.circusOnlyKeys(w, opts)
}

// circusOnlyKeys adds the keys circusd's options has that poold has no
// use for, with circusd's values, so that options and get have every key
// circusd's have (PROTOCOL.md: poold only adds):
//
//	__name__            "watcher:NAME" for a watcher of the config file
//	                    (circusd's ini section); none for one added
//	executable          null: cmd is the program
//	stdout_stream_conf  {} for a watcher of the file, null for an added
//	stderr_stream_conf  one: poold's streams are stdout_log, stderr_log
//	                    and the log_* keys
//
// and, for a watcher add or set gave with shell: true, cmd as given
// (poold runs /bin/sh -c LINE), and env null when add was given none.
func (a *Arbiter) circusOnlyKeys(w *watcher.Watcher, opts map[string]any) {
	_, filed := a.filed[strings.ToLower(w.Name())]
	opts["executable"] = nil
	opts["stdout_stream_conf"], opts["stderr_stream_conf"] = nil, nil
	if filed {
		opts["__name__"] = "watcher:" + w.Name()
		opts["stdout_stream_conf"], opts["stderr_stream_conf"] = map[string]any{}, map[string]any{}
	}
	g, ok := a.argsGiven[w]
	if !ok || !slices.Equal(g.Args, w.Spec().Args) {
		return
	}
	if g.ShellCmd != "" && w.Spec().Cmd == "/bin/sh" {
		opts["cmd"] = g.ShellCmd
	}
	if g.NoEnv && len(w.Spec().Env) == 0 {
		opts["env"] = nil
	}
}

// shellWrapped reports whether cmd and args run a line through /bin/sh
// -c, as Circus's shell = true runs cmd and args, and gives the words
// after the line (Circus's shell_args).
func shellWrapped(cmd string, args []string) (bool, []string) {
	if cmd != "/bin/sh" || len(args) < 2 || args[0] != "-c" {
		return false, nil
	}
	return true, args[2:]
}

func circusID(v any, lookup func(string) (int, error)) any {
	s, ok := v.(string)
	switch {
	case !ok:
		return v
	case s == "":
		return nil
	}
	if n, err := strconv.Atoi(s); err == nil {
		return n
	}
	if n, err := lookup(s); err == nil {
		return n
	}
	return s
}

func lookupUID(name string) (int, error) {
	n, err := configs.LookupUser(name)
	return int(n), err
}

func lookupGID(name string) (int, error) {
	n, err := configs.LookupGroup(name)
	return int(n), err
}

// fromCircus takes option values in Circus's shapes (set and add from a
// Circus client): args as one string (split like cmd) or null (none),
// uid or gid null (unset), stop_signal as a number (taken as it is), and
// Circus's option names that poold spells otherwise (circusNames); base
// is the watcher the options apply to (for add, its defaults and cmd).
// It returns a copy.
func fromCircus(opts map[string]any, base configs.Watcher) (map[string]any, error) {
	out := make(map[string]any, len(opts))
	for k, v := range opts {
		out[k] = v
	}
	if s, ok := out["args"].(string); (ok && strings.TrimSpace(s) == "") || isNull(out, "args") {
		out["args"] = []string{}
	} else if ok {
		words, err := configs.SplitCommand(s)
		if err != nil {
			return nil, fmt.Errorf("args: %w", err)
		}
		out["args"] = words
	}
	for _, k := range []string{"uid", "gid"} {
		if v, ok := out[k]; ok && v == nil {
			out[k] = ""
		}
	}
	if n, ok := out["stop_signal"].(float64); ok && n == float64(int(n)) {
		out["stop_signal"] = configs.SignalName(syscall.Signal(int(n)))
	}
	if err := circusNames(out, base); err != nil {
		return nil, err
	}
	return out, nil
}

// isNull reports whether opts has key, set to null.
func isNull(opts map[string]any, key string) bool {
	v, ok := opts[key]
	return ok && v == nil
}

// givenArgs is how add or set gave a watcher's args.
type givenArgs = upgrade.ArgsShape

// noteArgs notes the shape of the args in opts, the options add (added)
// or set was given as the client sent them, for the args w now has. With
// shell (cmd and args become /bin/sh -c LINE) they are no longer what was
// given.
func (a *Arbiter) noteArgs(w *watcher.Watcher, opts map[string]any, added bool) {
	raw, ok := opts["args"]
	_, shellGiven := opts["shell"]
	shell, _ := circusBool("shell", opts["shell"])
	cmd, _ := opts["cmd"].(string)
	if shellGiven && (!shell || cmd == "") || (!ok && !added && !shell) {
		return
	}
	if a.argsGiven == nil {
		a.argsGiven = map[*watcher.Watcher]givenArgs{}
	}
	_, isString := raw.(string)
	g := givenArgs{List: !isString, None: !ok || raw == nil, Args: slices.Clone(w.Spec().Args), NoEnv: added && opts["env"] == nil}
	if shell {
		// cmd and args are now /bin/sh -c LINE: get cmd answers the
		// cmd given, as circusd's does (its command_reloader plugin
		// watches that program), while they are still that line.
		g.ShellCmd, g.List = cmd, false
	}
	a.argsGiven[w] = g
}

// circusArgs is w's args in the shape circusd would give them: as add or
// set gave them while they are still those (null when add was given
// none or set null), else one string, "" when there are none, as
// circusd's config reader gives a config file's watcher without args.
func (a *Arbiter) circusArgs(w *watcher.Watcher) any {
	args := w.Spec().Args
	if g, ok := a.argsGiven[w]; ok && slices.Equal(g.Args, args) {
		switch {
		case g.ShellCmd != "" && !g.None:
			// The args given ran inside the shell line; poold keeps
			// them only there.
		case g.None:
			return nil
		case g.List:
			return append([]string{}, args...)
		}
	}
	return configs.QuoteCommand(args)
}
