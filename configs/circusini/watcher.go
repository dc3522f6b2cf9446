package circusini

import (
	"fmt"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/configs/translate"
)

// wdraft is one [watcher:NAME] being translated.
type wdraft struct {
	sec       *translate.INISection
	out       *translate.Section
	name      string
	env       map[string]string // [env] and [env:NAMES], as written
	envOrder  []string
	opts      map[string]string // options, $(circus.env.X) expanded
	copyEnv   bool
	cmd, args string
	shell     bool
	streams   map[string]map[string]string // stdout_stream / stderr_stream options
}

// watchers translates each [watcher:NAME] with its environment.
func (t *translator) watchers() {
	var ws []*wdraft
	for _, s := range t.ini.Sections {
		name, ok := strings.CutPrefix(s.Name, "watcher:")
		if !ok || len(s.Options) == 0 {
			continue
		}
		w := &wdraft{sec: s, name: name, out: t.doc.Section("watchers", name), env: map[string]string{}}
		w.out.From = s
		for _, k := range slices.Sorted(maps.Keys(t.local)) {
			w.setEnv(k, t.local[k])
		}
		if v, ok := s.Get("copy_env"); ok {
			b, _ := toBool(v)
			w.copyEnv = b == true
		}
		ws = append(ws, w)
	}
	// [env:NAMES] sections, in file order: NAMES are comma-separated
	// glob patterns matched against watcher names.
	for _, s := range t.ini.Sections {
		pats, ok := strings.CutPrefix(s.Name, "env:")
		if !ok {
			continue
		}
		for _, o := range s.Options {
			t.warnUnsetDollar(s, o.Key, o.Value)
		}
		matched := false
		for _, p := range strings.Split(pats, ",") {
			p = strings.TrimSpace(p)
			for _, w := range ws {
				if ok, _ := path.Match(p, w.name); ok {
					matched = true
					for _, o := range s.Options {
						w.setEnv(o.Key, o.Value)
					}
				}
			}
		}
		if !matched {
			t.warn(t.doc.Section("arbiter"), s, "", "matches no [watcher:NAME]; its variables go nowhere")
		}
	}
	for _, w := range ws {
		t.watcher(w)
	}
}

func (w *wdraft) setEnv(k, v string) {
	if _, ok := w.env[k]; !ok {
		w.envOrder = append(w.envOrder, k)
	}
	w.env[k] = v
}

// watcher translates one watcher.
func (t *translator) watcher(w *wdraft) {
	// Option values are expanded with $(circus.env.NAME) from circusd's
	// environment, [env] and the watcher's own env, as Circus does.
	full := maps.Clone(t.global)
	maps.Copy(full, w.env)
	w.opts = map[string]string{}
	for _, o := range w.sec.Options {
		w.opts[o.Key] = expandCircusEnv(o.Value, full)
	}
	out, s := w.out, w.sec
	if b, _ := toBool(w.opts["shell"]); b == true {
		w.shell = true
	}
	t.command(w)
	if _, set := w.opts["umask"]; !set && t.umask != "" {
		out.Set("umask", t.umask)
	}
	if _, set := w.opts["stop_children"]; !set {
		out.Comment("stop_children: Circus's default (poold's is true): the stop signal goes to the worker alone")
		out.Set("stop_children", false)
	}
	for _, k := range slices.Sorted(maps.Keys(t.flap)) {
		out.Set(k, t.flap[k])
	}
	hooks := map[string]string{}
	for _, o := range s.Options {
		k, v := o.Key, w.opts[o.Key]
		switch {
		case t.watcherSimple(w, k, v):
		case strings.HasPrefix(k, "rlimit_"):
			rl, _ := out.Get("rlimits")
			m, _ := rl.(map[string]string)
			if m == nil {
				m = map[string]string{}
			}
			if strings.TrimSpace(v) == "" {
				v = "unlimited"
			}
			m[strings.ToLower(strings.TrimPrefix(k, "rlimit_"))] = v
			out.Set("rlimits", m)
		case strings.HasPrefix(k, "stdout_stream.") || strings.HasPrefix(k, "stderr_stream."):
			w.addStream(k, v)
		case strings.HasPrefix(k, "hooks."):
			t.hook(w, k, v, hooks)
		case strings.HasPrefix(k, "flapping."):
			t.flapping(w, k, v)
		case !slices.Contains(circusWatcherOnly, k) && t.poolKey(out, s, "watchers", k, v):
		default:
			t.warn(out, s, k, unknownWatcherOption(k))
		}
	}
	t.streams(w)
	t.closeChild(w)
	if len(hooks) > 0 {
		out.Set("hooks", hooks)
	}
	t.environment(w)
}

// watcherSimple handles the options that map one to one (or nearly),
// reporting whether k was one of them.
func (t *translator) watcherSimple(w *wdraft, k, v string) bool {
	out, s := w.out, w.sec
	switch k {
	case "cmd", "args", "copy_env", "virtualenv", "virtualenv_py_ver", "shell_args":
		// Handled with the command and the environment.
	case "shell":
	case "numprocesses", "priority":
		out.Set(k, toInt(v))
	case "max_processes":
		out.Set(k, toInt(v))
		t.info(out, s, k, "a poold extension (Circus ignores it): the ceiling of this watcher's numprocesses (default 1024)")
	case "working_dir", "uid", "gid", "umask":
		out.Set(k, v)
	case "warmup_delay", "graceful_timeout", "max_age", "max_age_variance":
		out.Set(k, toDuration(v))
		if _, set := w.opts["max_age_variance"]; k == "max_age" && !set {
			out.Comment("max_age_variance: Circus's default (poold's is 0)")
			out.Set("max_age_variance", "30s")
		}
	case "send_hup", "use_sockets", "respawn", "autostart":
		b, _ := toBool(v)
		out.Set(k, b)
	case "stop_signal":
		out.Set(k, v)
	case "stop_children":
		b, _ := toBool(v)
		out.Set(k, b)
	case "max_retry":
		out.Set("flapping_max_retry", toInt(v))
		t.info(out, s, k, "mapped to flapping_max_retry: Circus counts failed spawns in a row; poold counts flapping pauses (flapping_attempts early deaths in a row each) before a slot gives up; -1 retries forever in both")
	case "singleton":
		if b, _ := toBool(v); b == true {
			out.Set("singleton", true)
		}
	case "copy_path":
		if b, _ := toBool(v); b == true {
			t.warn(out, s, k, "circusd's Python sys.path has no poold equivalent; set PYTHONPATH in [env:NAME] instead")
		}
	case "on_demand":
		if b, _ := toBool(v); b != true {
			break
		}
		if u, _ := toBool(w.opts["use_sockets"]); u != true {
			t.warn(out, s, k, "not mapped without use_sockets = true: poold wakes an on_demand watcher on a connection to its own sockets (circusd, on any of its sockets); these workers start at once")
			break
		}
		out.Set("on_demand", true)
		t.info(out, s, k, "poold wakes it on a connection to its own sockets (circusd, on any of its sockets), and keeps its workers running; set idle_timeout to stop them when no connection comes")
	case "close_child_stdin":
		if b, _ := toBool(v); b != true {
			t.warn(out, s, k, "poold always gives workers /dev/null as stdin")
		}
	case "close_child_stdout", "close_child_stderr":
		// Applied after the streams (closeChild): circusd's /dev/null
		// wins over a stream of the same name.
	case "check_flapping":
		if b, _ := toBool(v); b != true {
			out.Set("flapping_attempts", int64(0))
		}
	case "executable":
		t.warn(out, s, k, "poold runs the program cmd names and cannot give it another argv[0]; put the program in cmd")
	case "stdin_socket":
		t.warn(out, s, k, "poold hands sockets over as fds 3, 4, ... (and LISTEN_FDS), never as stdin")
	case "env":
		t.warn(out, s, k, "Circus ignores env in a watcher section; put variables in [env:NAME]")
	default:
		return false
	}
	return true
}

// flapping maps a watcher's options for Circus's flapping plugin
// (flapping.attempts, ...) onto its flapping_* keys.
func (t *translator) flapping(w *wdraft, k, v string) {
	switch opt := strings.TrimPrefix(k, "flapping."); opt {
	case "attempts", "max_retry":
		w.out.Set("flapping_"+opt, toInt(v))
	case "window", "retry_in":
		w.out.Set("flapping_"+opt, toDuration(v))
	case "active":
		if b, _ := toBool(v); b != true {
			w.out.Set("flapping_attempts", int64(0))
		}
	default:
		hint := ""
		if c := configs.Closest(opt, flappingOptions); c != "" {
			hint = fmt.Sprintf("; did you mean %q?", "flapping."+c)
		}
		t.warn(w.out, w.sec, k, "no poold equivalent for this flapping option"+hint)
	}
}

// hook translates hooks.NAME: a command line (a value naming a program by
// path) becomes a poold command hook; a Python callable cannot run.
func (t *translator) hook(w *wdraft, k, v string, hooks map[string]string) {
	name := strings.TrimPrefix(k, "hooks.")
	target, flag, hasFlag := strings.Cut(v, ",")
	target = strings.TrimSpace(target)
	if !slices.Contains(configs.HookNames, name) {
		t.warn(w.out, w.sec, k, fmt.Sprintf("poold has no %s hook; hooks: %s", name, strings.Join(configs.HookNames, ", ")))
		return
	}
	if !strings.Contains(target, "/") {
		t.warn(w.out, w.sec, k, fmt.Sprintf("%s is a Python callable, which poold cannot run; write it as a program and give its path (hooks.%s = /path/to/program args): poold runs it off its event loop with the event in POOLD_HOOK, POOLD_WATCHER, POOLD_PID and POOLD_WID", target, name))
		return
	}
	if hasFlag {
		if b, _ := toBool(strings.TrimSpace(flag)); b == true {
			t.warn(w.out, w.sec, k, "ignore_failure (\", true\") is not mapped: a failing before_* hook stops the action")
		}
	}
	hooks[name] = target
}

// command builds cmd and args: Circus splits cmd and args like a POSIX
// shell; with shell = true it quotes each of those words and joins them
// into one line for /bin/sh -c, as circusd does, so a pipe, $VAR or glob
// written in cmd or args reaches the program as written.
func (t *translator) command(w *wdraft) {
	cmd, args := w.opts["cmd"], w.opts["args"]
	var words []string
	if strings.TrimSpace(args) != "" {
		var err error
		if words, err = configs.SplitCommand(args); err != nil {
			t.warn(w.out, w.sec, "args", fmt.Sprintf("cannot split %q into words: %v; left out", args, err))
			words = nil
		}
	}
	if !w.shell {
		w.out.Set("cmd", cmd)
		if words != nil {
			w.out.Set("args", words)
		}
		return
	}
	cmdWords, err := configs.SplitCommand(cmd)
	if err != nil && strings.TrimSpace(cmd) != "" {
		t.warn(w.out, w.sec, "cmd", fmt.Sprintf("cannot split %q into words as circusd does for shell = true: %v; fix its quoting", cmd, err))
		cmdWords = []string{cmd}
	}
	line := configs.QuoteCommand(append(cmdWords, words...))
	w.out.Set("cmd", "/bin/sh")
	sh := []string{"-c", line}
	if sa := strings.TrimSpace(w.opts["shell_args"]); sa != "" {
		if words, err := configs.SplitCommand(sa); err == nil {
			sh = append(sh, words...)
		}
	}
	w.out.Set("args", sh)
	t.info(w.out, w.sec, "shell", "runs through /bin/sh -c; the shell is the worker, and poold signals its whole process group")
}

// environment sets env (and copy_env): [env] and [env:NAMES] entries with
// $VAR expanded from circusd's environment as Circus does; virtualenv
// puts the virtualenv's bin first in PATH and its site-packages in
// PYTHONPATH.
func (t *translator) environment(w *wdraft) {
	if w.copyEnv {
		w.out.Set("copy_env", true)
	}
	env := map[string]string{}
	for _, k := range w.envOrder {
		env[k] = expandDollar(w.env[k], t.environ)
	}
	order := slices.Clone(w.envOrder)
	if venv := strings.TrimSpace(w.opts["virtualenv"]); venv != "" {
		t.virtualenv(w, venv, env, &order)
	}
	if len(order) == 0 {
		return
	}
	list := make([]string, 0, len(order))
	for _, k := range order {
		list = append(list, k+"="+env[k])
	}
	w.out.Set("env", list)
	for _, k := range order {
		// Only [env] values: a virtualenv's PATH and PYTHONPATH have a
		// comment of their own. Comments appear in poold convert's output
		// only, where the expanded value is written for good.
		if raw, ok := w.env[k]; ok && raw != env[k] {
			w.out.Comment("env %s: %q expanded from the environment poold convert ran in, as circusd expands it from its own at start; check it fits the machine poold runs on", k, raw)
		}
	}
}

// virtualenv applies a Circus virtualenv: PATH gets its bin first,
// PYTHONPATH its site-packages (found under lib/pythonX.Y or lib/pypyX.Y).
func (t *translator) virtualenv(w *wdraft, venv string, env map[string]string, order *[]string) {
	add := func(k, v string) {
		if _, ok := env[k]; !ok {
			*order = append(*order, k)
		}
		env[k] = v
	}
	if !w.copyEnv {
		t.info(w.out, w.sec, "virtualenv", "Circus refuses virtualenv without copy_env = true; poold sets PATH and PYTHONPATH anyway")
	}
	if fi, err := os.Stat(venv); err != nil || !fi.IsDir() {
		// circusd refuses to start; poold warns (an error with --strict)
		// and says that cmd is then looked up outside the virtualenv.
		t.warn(w.out, w.sec, "virtualenv", fmt.Sprintf("%s is not a directory (circusd refuses to start with it): PATH and PYTHONPATH left alone, so cmd is looked up in poold's PATH and runs without the virtualenv's packages; correct the path, or create the virtualenv there (python3 -m venv %s)", venv, venv))
		return
	}
	bin := filepath.Join(venv, "bin")
	if fi, err := os.Stat(bin); err == nil && fi.IsDir() {
		base, ok := env["PATH"]
		if !ok {
			base = t.environ["PATH"]
		}
		add("PATH", bin+":"+base)
		w.out.Comment("PATH: %s, then the PATH poold convert ran with (circusd puts its own there at start); check it fits the machine poold runs on", bin)
	}
	pattern := filepath.Join(venv, "lib", "python*", "site-packages")
	if v := strings.TrimSpace(w.opts["virtualenv_py_ver"]); v != "" {
		pattern = filepath.Join(venv, "lib", "python"+v, "site-packages")
	}
	sites, _ := filepath.Glob(pattern)
	if len(sites) == 0 {
		sites, _ = filepath.Glob(filepath.Join(venv, "lib", "pypy*", "site-packages"))
	}
	if len(sites) == 0 {
		t.warn(w.out, w.sec, "virtualenv", fmt.Sprintf("%s has no lib/python*/site-packages; PYTHONPATH left alone", venv))
		return
	}
	pp := sites[0]
	if old, ok := env["PYTHONPATH"]; ok && old != "" {
		pp = old + ":" + pp
	}
	add("PYTHONPATH", pp)
	w.out.Comment("virtualenv %s: PATH and PYTHONPATH set as Circus sets them", venv)
}
