package configs

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// nameRE is what a socket or watcher name may contain. The length bound
// keeps the paths made from a name (its notify socket, whose path may
// not pass 107 bytes; its workers' cgroups) within the system's limits.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

const nameRule = "names are 1 to 64 ASCII letters (a-z, A-Z), digits, '_', '.' and '-'"

// ValidName reports whether name may name a socket or a watcher.
func ValidName(name string) bool { return nameRE.MatchString(name) }

// NameLike returns a valid name close to name: lower-cased, each other
// character made '_' (as Circus names a watcher's topics), at most 64
// long. "My App" gives "my_app".
func NameLike(name string) string {
	out := []rune(strings.Map(func(r rune) rune {
		if r < 0x80 && nameRE.MatchString(string(r)) {
			return unicode.ToLower(r)
		}
		return '_'
	}, name))
	switch {
	case len(out) == 0:
		return "name"
	case len(out) > 64:
		out = out[:64]
	}
	return string(out)
}

var (
	logLevels     = []string{"trace", "debug", "info", "warn", "error"}
	logFormats    = []string{"text", "json"}
	socketFamiles = []string{"tcp", "tcp4", "tcp6", "unix"}
)

// isLoopbackHost reports whether host is "localhost" or a loopback IP.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// parseEndpoint checks a ZeroMQ endpoint: ipc://PATH or tcp://HOST:PORT.
func parseEndpoint(e string) (scheme, host string, err error) {
	scheme, rest, ok := strings.Cut(e, "://")
	if !ok {
		return "", "", fmt.Errorf(`must be "ipc://PATH" or "tcp://HOST:PORT", got %q`, e)
	}
	switch scheme {
	case "ipc":
		if rest == "" {
			return "", "", fmt.Errorf(`ipc endpoint needs a path, as in "ipc:///run/poold/control.sock", got %q`, e)
		}
		if msg := unixPathProblem(rest); msg != "" {
			return "", "", fmt.Errorf("ipc endpoint %s", msg)
		}
		return scheme, "", nil
	case "tcp":
		h, p, err := net.SplitHostPort(rest)
		if err != nil {
			return "", "", fmt.Errorf(`tcp endpoint must be "tcp://HOST:PORT", got %q`, e)
		}
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "", "", fmt.Errorf("tcp endpoint port must be between 1 and 65535, got %q", e)
		}
		if h == "" {
			return "", "", fmt.Errorf(`tcp endpoint needs a host ("127.0.0.1", or "*" for every interface), got %q`, e)
		}
		return scheme, h, nil
	}
	return "", "", fmt.Errorf(`must use ipc:// or tcp://, got %q`, e)
}

func validateArbiter(ps *problems, a *Arbiter) {
	eps := []struct {
		key string
		val *string
	}{{"arbiter.endpoint", &a.Endpoint}, {"arbiter.pubsub_endpoint", &a.PubSubEndpoint}, {"arbiter.stats_endpoint", &a.StatsEndpoint}}
	for _, ep := range eps { // checkListeners: whether two meet
		scheme, host, err := parseEndpoint(*ep.val)
		if err != nil {
			ps.add(ep.key, "%v", err)
			continue
		}
		if ep.key == "arbiter.endpoint" && scheme == "tcp" && !isLoopbackHost(host) && !a.AllowRemote {
			ps.add(ep.key, "%s is refused: it is not a loopback address and the control protocol has no authentication (anyone who can connect can run any command); use an ipc:// endpoint or a 127.0.0.1 address, or set arbiter.allow_remote = true if the network is trusted", *ep.val)
		}
	}
	validateControl(ps, a)
	if a.StuckAfter != 0 && (a.StuckAfter < MinStuckAfter || a.StuckAfter > MaxStuckAfter) && !ps.has("arbiter.stuck_after") {
		ps.add("arbiter.stuck_after", "must be between %s and %s, got %s: /healthz waits 1s for the loop, and calls a loop that is in one step busy until this bound, stuck after it", MinStuckAfter, MaxStuckAfter, a.StuckAfter)
	}
	if a.StatsInterval > 0 && a.StatsInterval < MinStatsInterval && !ps.has("arbiter.stats_interval") {
		ps.add("arbiter.stats_interval", "must be at least %s, got %s: each sample reads every worker's /proc files, and CPU times move in 10ms clock ticks, so a shorter interval only burns CPU (and max_cpu, max_rss and limit_threshold would judge a worker within microseconds)", MinStatsInterval, a.StatsInterval)
	}
	a.LogLevel = strings.ToLower(a.LogLevel)
	if !slices.Contains(logLevels, a.LogLevel) {
		ps.add("arbiter.log_level", "must be one of %s, got %q", strings.Join(logLevels, ", "), a.LogLevel)
	}
	a.LogFormat = strings.ToLower(a.LogFormat)
	if !slices.Contains(logFormats, a.LogFormat) {
		ps.add("arbiter.log_format", "must be one of %s, got %q", strings.Join(logFormats, ", "), a.LogFormat)
	}
}

func validateWeb(ps *problems, w *Web) {
	if w.MetricsAddress != "" {
		_, port, err := net.SplitHostPort(w.MetricsAddress)
		if n, perr := strconv.Atoi(port); err != nil || perr != nil || n < 0 || n > 65535 {
			ps.add("web.metrics_address", `must be "HOST:PORT" such as "127.0.0.1:9100", got %q`, w.MetricsAddress)
		} else {
			metricsInClear(ps, w)
		}
	}
	host, port, err := net.SplitHostPort(w.Address)
	if err != nil {
		ps.add("web.address", `must be "HOST:PORT" such as "127.0.0.1:8080", got %q`, w.Address)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		ps.add("web.address", "port must be a number between 0 and 65535, got %q", w.Address)
		return
	}
	validateRemote(ps, w, isLoopbackHost(host))
}

// validateWatcher checks what one field alone cannot: references,
// environment entries, users, directories and ranges between keys.
// prefix is "watchers.NAME" for a file, "" for run-time options.
func validateWatcher(ps *problems, prefix string, w *Watcher, sockets map[string]bool) {
	k := func(key string) string { return joinKey(prefix, key) }
	if strings.TrimSpace(w.Cmd) == "" && !ps.has(k("cmd")) {
		ps.add(k("cmd"), "missing: set the program to run, e.g. cmd = \"/usr/bin/gunicorn\"")
	}
	if w.Singleton && w.NumProcesses > 1 && !ps.has(k("numprocesses")) {
		ps.add(k("numprocesses"), "%d, but %s is set: a singleton runs one worker; set numprocesses = 1 or singleton = false", w.NumProcesses, k("singleton"))
	}
	if w.Singleton && w.MaxWorkers > 1 && !ps.has(k("max_workers")) {
		ps.add(k("max_workers"), "%d, but %s is set: a singleton runs one worker; set max_workers = 1 or singleton = false", w.MaxWorkers, k("singleton"))
	}
	if w.NumProcesses > w.MaxProcesses && !ps.has(k("numprocesses")) {
		ps.add(k("numprocesses"), "%d is over max_processes %d; raise %s if the machine can take that many workers", w.NumProcesses, w.MaxProcesses, k("max_processes"))
	}
	checkNUL(ps, k, w)
	checkExecSizes(ps, k, w)
	checkSplit(ps, k("cmd"), "cmd", w.Cmd)
	checkSplit(ps, k("health_cmd"), "health_cmd", w.HealthCmd)
	validateRefs(ps, k, w, sockets)
	warnUnsetEnvRefs(ps, k, w)
	validateProbes(ps, k, w)
	validateScaling(ps, k, w, sockets)
	validateWorkerLogs(ps, k, w)
	for i, dep := range w.DependsOn {
		key := fmt.Sprintf("%s[%d]", k("depends_on"), i)
		switch {
		case strings.EqualFold(dep, w.Name):
			ps.add(key, "watcher %q cannot depend on itself; remove it", dep)
		case slices.IndexFunc(w.DependsOn[:i], func(s string) bool { return strings.EqualFold(s, dep) }) >= 0:
			ps.add(key, "watcher %q is listed twice", dep)
		}
	}
	validateHost(ps, k, w)
	if w.BackoffMin > w.BackoffMax {
		ps.add(k("backoff_min"), "(%s) must not exceed backoff_max (%s)", w.BackoffMin, w.BackoffMax)
	}
	if w.Umask < -1 || w.Umask > 0o777 {
		ps.add(k("umask"), "must be -1 (inherit) or between 000 and 777 (octal), got %d", w.Umask)
	}
	validateProcess(ps, k, w)
	switch w.FailureAction = strings.ToLower(strings.TrimSpace(w.FailureAction)); w.FailureAction {
	case "":
		w.FailureAction = DefaultFailureAction
	case "none", "exit":
	default:
		ps.add(k("failure_action"), `must be "none" (stay failed) or "exit" (stop every watcher and exit poold with status 69), got %q`, w.FailureAction)
	}
}

// validateRefs checks the environment entries, the sockets a watcher
// lists and the $(pool.*) variables in its command, arguments,
// environment and probe addresses.
func validateRefs(ps *problems, k func(string) string, w *Watcher, sockets map[string]bool) {
	seen := make(map[string]int, len(w.Env))
	for i, e := range w.Env {
		name, _, ok := strings.Cut(e, "=")
		first, dup := seen[name]
		switch {
		case !ok:
			ps.add(fmt.Sprintf("%s[%d]", k("env"), i), `must be "KEY=VALUE", got %q`, e)
		case name == "":
			ps.add(fmt.Sprintf("%s[%d]", k("env"), i), `has an empty KEY in %q`, e)
		case dup && e == w.Env[first]:
			ps.add(fmt.Sprintf("%s[%d]", k("env"), i), "repeats %q (env[%d]); keep one", e, first)
		case dup:
			ps.add(fmt.Sprintf("%s[%d]", k("env"), i), "sets %s again (%q, after %q at env[%d]), so one value would silently replace the other; keep one", name, e, w.Env[first], first)
		default:
			seen[name] = i
		}
	}
	for i, name := range w.Sockets {
		lname := strings.ToLower(name)
		if !sockets[lname] {
			ps.add(fmt.Sprintf("%s[%d]", k("sockets"), i), "unknown socket %q; %s", name, socketHint(sockets))
		} else if slices.IndexFunc(w.Sockets[:i], func(s string) bool { return strings.EqualFold(s, name) }) >= 0 {
			ps.add(fmt.Sprintf("%s[%d]", k("sockets"), i), "socket %q is listed twice", name)
		}
	}
	checkVars := func(key, text string) {
		for _, r := range varRefs(text) {
			if name, ok := strings.CutPrefix(r.name, "sockets."); ok {
				if !sockets[strings.ToLower(name)] {
					ps.add(key, "refers to unknown socket %q through %s; %s", name, r.text, socketHint(sockets))
				}
			} else if !knownVar(r.name) {
				ps.add(key, "unknown variable %q; known: %s, sockets.NAME, env.KEY", r.name, strings.Join(varNames, ", "))
			}
		}
	}
	checkVars(k("cmd"), w.Cmd)
	for i, a := range w.Args {
		checkVars(fmt.Sprintf("%s[%d]", k("args"), i), a)
	}
	for i, e := range w.Env {
		checkVars(fmt.Sprintf("%s[%d]", k("env"), i), e)
	}
	checkVars(k("ready_address"), w.ReadyAddress)
	checkVars(k("ready_url"), w.ReadyURL)
	checkVars(k("health_address"), w.HealthAddress)
	checkVars(k("health_url"), w.HealthURL)
	checkVars(k("health_cmd"), w.HealthCmd)
}

// validateHost checks the user and group of w as a file gives them: a
// number must be a valid id. That a name exists, as that working_dir
// does, is a fact of the machine checked where programs are (launch.Check,
// through Credential; validateCredential for add and set): a user or
// group deleted under a running watcher must not make a config file
// invalid, and so block a reload that edits another watcher.
func validateHost(ps *problems, k func(string) string, w *Watcher) {
	if err := idRange("uid", w.UID); err != nil {
		ps.add(k("uid"), "%v", err)
	}
	if err := idRange("gid", w.GID); err != nil {
		ps.add(k("gid"), "%v", err)
	}
}

// validateCredential records under uid and gid whether w's user and
// group exist on this machine (add, and a set that gives them).
func validateCredential(ps *problems, k func(string) string, w *Watcher) {
	if w.UID != "" && !ps.has(k("uid")) {
		if _, err := lookupUser(w.UID, true); err != nil {
			ps.add(k("uid"), "%v", err)
		}
	}
	if w.GID != "" && !ps.has(k("gid")) {
		if _, err := lookupGroup(w.GID, true); err != nil {
			ps.add(k("gid"), "%v", err)
		}
	}
}

// CheckWorkingDir says whether w's working_dir, if set, is a directory
// on this machine (inside its chroot, if any): poold --check, start-up
// and a reload of the watchers it adds or changes check it, as they
// check programs, and so do add and set.
func (w Watcher) CheckWorkingDir() error {
	if w.WorkingDir == "" {
		return nil
	}
	fi, err := os.Stat(w.HostPath(w.WorkingDir))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s: %w (create it, or set working_dir to an existing directory)", w.WorkingDir, pathErr(err))
	case err != nil:
		return fmt.Errorf("%s: %w", w.WorkingDir, pathErr(err))
	case !fi.IsDir():
		return fmt.Errorf("%s is not a directory (set working_dir to a directory)", w.WorkingDir)
	}
	return nil
}

// validateWorkingDir records CheckWorkingDir's problem under key.
func validateWorkingDir(ps *problems, key string, w *Watcher) {
	if err := w.CheckWorkingDir(); err != nil {
		ps.add(key, "%v", err)
	}
}

// checkSplit checks that cmd, the value of key (whose short name is
// short), splits into words (SplitCommand) with a program name: what
// splits here is what runs.
func checkSplit(ps *problems, key, short, cmd string) {
	if strings.TrimSpace(cmd) == "" || ps.has(key) {
		return
	}
	words, err := SplitCommand(cmd)
	switch {
	case err != nil:
		ps.add(key, "%v (got %q): %s is split into words like a shell: quote a path that contains spaces, and escape a literal quote or backslash with \\", err, cmd, short)
	case words[0] == "":
		ps.add(key, "the program name (the first word) is empty (got %q)", cmd)
	}
}

func socketHint(sockets map[string]bool) string {
	if len(sockets) == 0 {
		return "no sockets are defined; add a [sockets.NAME] section"
	}
	names := sortedKeys(sockets)
	return "defined sockets: " + strings.Join(names, ", ")
}

// pathErr drops the path an *os.PathError repeats.
func pathErr(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// CheckTotal checks that the watchers together stay within the arbiter's
// max_processes.
func CheckTotal(a Arbiter, ws []Watcher) error {
	total := 0
	for _, w := range ws {
		total += w.Capacity()
	}
	if total > a.MaxProcesses {
		return fmt.Errorf("the watchers ask for %d workers together, over arbiter.max_processes %d; lower numprocesses or raise arbiter.max_processes", total, a.MaxProcesses)
	}
	return nil
}
