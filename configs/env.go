package configs

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// reservedEnv are the POOLD_* variables that are not config overrides, so
// Load does not report them as unknown. Every "POOLD_..." name used in the
// repository must be an override or listed here (TestReservedEnvCoversRepo
// checks it), or poold would refuse to start where it is set.
var reservedEnv = map[string]bool{
	// Set by poold for each worker and exec health check; a worker (or
	// anything it starts) may itself be poold.
	"POOLD_WID":     true,
	"POOLD_WATCHER": true,
	"POOLD_PID":     true,
	// Set by poold for each worker: its config's id and the poold that
	// started it, by which a poold finds what a killed one of the same
	// config left (watcher/launch/mark.go).
	"POOLD_CONFIG_ID":  true,
	"POOLD_STARTED_BY": true,
	// Set by poold for a command hook (watcher/hook.go): the hook's name
	// and, for before_reap and after_reap, the worker's exit code.
	"POOLD_HOOK":      true,
	"POOLD_EXIT_CODE": true,
	// Carries the exec shim's request to poold's own binary (watcher/spawn).
	"POOLD_EXEC_SHIM": true,
	// An in-place upgrade's handover to the new image, the reason of a
	// rollback to the old one, and the path the first image was started
	// from (arbiter/upgrade).
	"POOLD_UPGRADE_FDS":      true,
	"POOLD_UPGRADE_ROLLBACK": true,
	"POOLD_UPGRADE_EXE":      true,
	// ... and that the first image was started with SIGHUP ignored
	// (nohup), which the new image cannot see (cmd/poold/hangup.go).
	"POOLD_UPGRADE_HUP_IGNORED": true,
	// The grace period poold's orchestrator gives its stop, which
	// Kubernetes does not tell a container (cmd/poold/grace.go).
	"POOLD_TERMINATION_GRACE_PERIOD": true,
	// Tests and benchmarks: they set these in the environment of test
	// binaries that run poold, or export them to the whole suite.
	"POOLD_TEST_WORKER":            true, // watcher/workertest: the worker mode
	"POOLD_TEST_OUTLIVE_PID":       true, // watcher/workertest outlive: the pid whose end it waits for
	"POOLD_TEST_AS_POOLD":          true, // cmd/poold tests: the binary plays poold
	"POOLD_TEST_ARGS":              true, // ... with these arguments
	"POOLD_TEST_AS_UID":            true, // ... as this uid (and gid), without root
	"POOLD_TEST_STOPJOB":           true, // cmd/poold tests: the binary stops its own job
	"POOLD_TEST_HOLD_START":        true, // cmd/poold tests: start-up waits on this FIFO
	"POOLD_TEST_UPGRADES":          true, // cmd/poold tests: upgrades in a row (measuring)
	"POOLD_SOAK_LINES_FOR":         true, // cmd/poold: the fast log writer's run (default 3s)
	"POOLD_BIN":                    true, // web e2e tests: a prebuilt poold
	"POOLD_SOCKETS_TEST_HELPER":    true,
	"POOLD_NOTIFY_HELPER":          true,
	"POOLD_PROCINFO_HELPER":        true,
	"POOLD_PROCINFO_BENCH_N":       true,
	"POOLD_BENCH_MEMORY_MAX":       true, // arbiter stats benchmarks: the watchers' memory_max
	"POOLD_METRICS_BENCH_N":        true,
	"POOLD_WEB_BENCH_URL":          true,
	"POOLD_WEB_BENCH_N":            true,
	"POOLD_PROCTEST_CHILD":         true, // watcher/proctest's own tests
	"POOLD_SPAWN_TEST_CHILD":       true, // watcher/spawn tests: the child's role
	"POOLD_SPAWN_TEST_STALL_SHIM":  true, // watcher/spawn tests: the shim stops itself
	"POOLD_SPAWN_TEST_PIDS_CGROUP": true, // watcher/spawn tests: the child's pids cgroup
	"POOLD_SPAWN_TEST_TOPUP":       true, // watcher/spawn tests: the child starts crowded
	"POOLD_SPAWN_TEST_TINY_NOSTUB": true, // watcher/spawn tests: the tinymem child runs without the stub
	"POOLD_SOAK_WORKER":            true, // cmd/poold-soak: the binary plays a worker
}

// envName is the override variable of a key path:
// ["watchers", "my-app", "copy_env"] -> POOLD_WATCHERS_MY_APP_COPY_ENV.
func envName(path ...string) string {
	r := strings.NewReplacer(".", "_", "-", "_")
	return "POOLD_" + strings.ToUpper(r.Replace(strings.Join(path, "_")))
}

// envTarget is the key a variable overrides; name is "" in [arbiter] and
// [web].
type envTarget struct{ sec, name, key string }

// envTargets maps every override variable to the keys it sets: every key
// of [arbiter] and [web] (all have defaults), and every key of each socket
// and watcher the file defines. Two names that differ only in '.', '-' and
// '_' share their variables (applyEnv refuses those).
func envTargets(tree map[string]any) map[string][]envTarget {
	out := map[string][]envTarget{}
	for _, sec := range []string{"arbiter", "web"} {
		for _, k := range sectionKeys(sec) {
			out[envName(sec, k)] = append(out[envName(sec, k)], envTarget{sec, "", k})
		}
	}
	for _, sec := range []string{"sockets", "watchers"} {
		all, _ := tree[sec].(map[string]any)
		for _, name := range sortedKeys(all) {
			for _, k := range sectionKeys(sec) {
				v := envName(sec, name, k)
				out[v] = append(out[v], envTarget{sec, name, k})
			}
		}
	}
	return out
}

func sectionKeys(sec string) []string {
	switch sec {
	case "arbiter":
		return fieldKeys(arbiterFields)
	case "web":
		return fieldKeys(webFields)
	case "sockets":
		return fieldKeys(socketFields)
	}
	return fieldKeys(watcherFields)
}

// applyEnv overrides keys of tree from the POOLD_* variables of environ
// ("KEY=VALUE" strings; the first of a name counts, as for os.Getenv).
// Values stay text (envValue) until decoded as the key's type, so case and
// '$' are kept. A POOLD_* variable that names no key and is not reserved
// is a problem: a typo must not pass unnoticed. One shaped as an override
// of a socket or watcher the file does not define is a warning instead:
// poold's environment is fixed at its start, so a problem would refuse
// every reload that removes or renames that socket or watcher.
//
// It returns the keys it set ("arbiter.endpoint", "watchers.web.cmd") and
// the variable that set each, for creditEnv.
func applyEnv(ps *problems, tree map[string]any, environ []string) map[string]string {
	set := map[string]string{}
	// Every key of every section as a variable name: built only once a
	// POOLD_ variable asks, as most environments have none (60,000
	// watchers made this half of a 46 s --check).
	var targets map[string][]envTarget
	lookup := func() map[string][]envTarget {
		if targets == nil {
			targets = envTargets(tree)
		}
		return targets
	}
	seen := map[string]bool{}
	var unknown []string
	for _, kv := range environ {
		name, text, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "POOLD_") || seen[name] {
			continue
		}
		seen[name] = true
		ts, ok := lookup()[name]
		switch {
		case ok || reservedEnv[name]:
		case absentName(name) != nil:
			ps.warn("", "environment variable %s: %s", name, absentNameMsg(name, lookup(), tree))
		default:
			unknown = append(unknown, name)
		}
		if msg := ambiguous(ts); msg != "" {
			ps.add("", "environment variable %s: %s", name, msg)
			continue
		}
		for _, t := range ts {
			setEnvValue(tree, t, envValue{name: name, text: text})
			set[t.fullKey()] = name
		}
	}
	sort.Strings(unknown)
	for _, name := range unknown {
		ps.add("", "environment variable %s: %s", name, unknownEnvMsg(name, lookup(), tree))
	}
	return set
}

// fullKey is the key t sets, as problems name it.
func (t envTarget) fullKey() string {
	if t.name == "" {
		return t.sec + "." + t.key
	}
	return t.sec + "." + t.name + "." + t.key
}

// creditEnv adds to each problem of a key an override set (from, from
// applyEnv) which variable set it, where the decoder did not already:
// the checks after decoding (an endpoint's form, a cmd's program) see
// only the value.
func (ps *problems) creditEnv(from map[string]string) {
	for i, p := range ps.list {
		if name, ok := from[p.Key]; ok && !strings.Contains(p.Msg, "(from environment variable ") {
			ps.list[i].Msg += " (from environment variable " + name + ")"
		}
	}
}

// ambiguous says why a variable that reaches more than one key (ts) is
// refused; "" when it reaches one. It may reach different keys of
// different watchers or sockets (POOLD_WATCHERS_WEB_LOG_MAX_AGE: web's
// log_max_age and web_log's max_age), or one key of several whose names
// differ only in '.', '-' and '_' (a-b, a.b, a_b): either way only one
// was meant, and which is left to guess.
func ambiguous(ts []envTarget) string {
	if len(ts) < 2 {
		return ""
	}
	keys := make([]string, len(ts))
	names := make([]string, len(ts))
	for i, t := range ts {
		keys[i] = t.fullKey()
		names[i] = t.name
	}
	for _, t := range ts {
		if t.key != ts[0].key {
			return fmt.Sprintf("sets %s, which end alike; set the key in the file instead, or rename a watcher or socket", strings.Join(keys, " and "))
		}
	}
	what := strings.TrimSuffix(ts[0].sec, "s")
	return fmt.Sprintf("would set %s of the %ss %s, whose names all make this variable ('.', '-' and '_' each become '_'), so which one is meant is unclear; set %s in the file instead, or rename all but one of these %ss",
		ts[0].key, what, quoteList(names), ts[0].key, what)
}

// setEnvValue sets the key of t in tree, creating [arbiter] or [web] when
// the file has none. A section that is not a table is left alone: the
// decoder reports it.
func setEnvValue(tree map[string]any, t envTarget, v envValue) {
	parent := tree
	if t.name != "" {
		parent, _ = tree[t.sec].(map[string]any)
	}
	key := t.sec
	if t.name != "" {
		key = t.name
	}
	m, isMap := parent[key].(map[string]any)
	if parent[key] != nil && !isMap {
		return
	}
	if m == nil {
		m = map[string]any{}
		parent[key] = m
	}
	m[t.key] = v
}

// unknownEnvMsg says why a POOLD_* variable names no key, suggesting the
// closest variable that does.
func unknownEnvMsg(name string, targets map[string][]envTarget, tree map[string]any) string {
	// Whole names are near by edit distance only: they all share long
	// prefixes, so closest's prefix rule would pick at random.
	if s, _ := nearest(name, sortedKeys(targets)); s != "" && !endsInForeignKey(name) {
		return fmt.Sprintf("names no config key; did you mean %s?", s)
	}
	rest := strings.TrimPrefix(name, "POOLD_")
	for _, sec := range []string{"arbiter", "web"} {
		for _, k := range sectionKeys(sec) {
			if strings.EqualFold(rest, k) {
				return fmt.Sprintf("names no config key; did you mean %s (key %s of [%s])?", envName(sec, k), k, sec)
			}
		}
	}
	for _, sec := range sections {
		after, ok := strings.CutPrefix(rest, strings.ToUpper(sec)+"_")
		if !ok {
			continue
		}
		if sec == "arbiter" || sec == "web" {
			return unknownKeyEnvMsg(sec, "", after)
		}
		return unknownNamedMsg(sec, after, tree)
	}
	return fmt.Sprintf("names no config key (overrides are POOLD_<SECTION>_<KEY> and POOLD_<SECTION>_<NAME>_<KEY>, SECTION one of %s); fix its name or unset it",
		strings.ToUpper(strings.Join(sections, ", ")))
}

// absentTarget is what a variable POOLD_<SEC>_<NAME>_<KEY> names: a key
// of a socket or watcher.
type absentTarget struct{ sec, name, key string }

// absentName returns what name would override if the file defined a
// socket or watcher of that name: the longest key of the section that
// ends it, after a non-empty name; nil when it has no such shape (a
// mistyped key).
func absentName(name string) *absentTarget {
	rest := strings.TrimPrefix(name, "POOLD_")
	for _, sec := range []string{"sockets", "watchers"} {
		after, ok := strings.CutPrefix(rest, strings.ToUpper(sec)+"_")
		if !ok {
			continue
		}
		key := ""
		for _, k := range sectionKeys(sec) {
			suffix := "_" + strings.ToUpper(k)
			if strings.HasSuffix(after, suffix) && len(after) > len(suffix) && len(k) > len(key) {
				key = k
			}
		}
		if key == "" {
			return nil
		}
		given := strings.TrimSuffix(after, "_"+strings.ToUpper(key))
		return &absentTarget{sec, strings.ToLower(given), key}
	}
	return nil
}

// absentNameMsg says that the override name of a socket or watcher the
// file does not define is ignored, with the variable of a defined one
// whose name is close (a typo), and how to be rid of it.
func absentNameMsg(name string, targets map[string][]envTarget, tree map[string]any) string {
	a := absentName(name)
	what := strings.TrimSuffix(a.sec, "s")
	all, _ := tree[a.sec].(map[string]any)
	names := sortedKeys(all)
	defined := "the file defines none"
	if len(names) > 0 {
		defined = "defined: " + strings.Join(names, ", ")
	}
	msg := fmt.Sprintf("ignored: the file has no %s %q (an override never creates a %s; %s)", what, a.name, what, defined)
	hint, _ := nearest(name, sortedKeys(targets))
	if hint == "" {
		envNames := make([]string, len(names))
		for i, n := range names {
			envNames[i] = strings.TrimPrefix(envName(n), "POOLD_")
		}
		if s := closest(a.name, envNames); s != "" {
			hint = envName(a.sec, s, a.key)
		}
	}
	if hint != "" {
		msg += fmt.Sprintf("; did you mean %s?", hint)
	} else {
		msg += "."
	}
	return msg + " If that " + what + " was removed or renamed, unset the variable where poold is started (poold reads its environment once, at start)"
}

// unknownNamedMsg explains a variable POOLD_SOCKETS_<after> or
// POOLD_WATCHERS_<after> that ends in no key of the section (absentName
// takes those that do).
func unknownNamedMsg(sec, after string, tree map[string]any) string {
	what := strings.TrimSuffix(sec, "s")
	all, _ := tree[sec].(map[string]any)
	names := sortedKeys(all)
	defined := "the file defines none"
	if len(names) > 0 {
		defined = "defined: " + strings.Join(names, ", ")
	}
	for _, n := range names {
		if k, ok := strings.CutPrefix(after, strings.TrimPrefix(envName(n), "POOLD_")+"_"); ok {
			return unknownKeyEnvMsg(sec, n, k)
		}
	}
	return fmt.Sprintf("names no key of a %s (the form is POOLD_%s_<NAME>_<KEY>, NAME a %s of the file: %s)",
		what, strings.ToUpper(sec), what, defined)
}

// unknownKeyEnvMsg explains an override of [sec] or [sec.name] whose key
// part, given, is no key of the section.
func unknownKeyEnvMsg(sec, name, given string) string {
	table, path := sec, []string{sec}
	if name != "" {
		table, path = sec+"."+name, append(path, name)
	}
	keys := sectionKeys(sec)
	if f, ok := lookupForeign(given, keys); ok {
		lk := strings.ToLower(given)
		if f.key != "" && slices.Contains(keys, f.key) {
			return fmt.Sprintf("names no key of [%s]; %s is %s name: did you mean %s?", table, lk, foreignOwner(f), envName(append(path, f.key)...))
		}
		if msg := foreignMsg(lk, f, keys); msg != "" {
			return fmt.Sprintf("names no key of [%s]; %s", table, msg)
		}
		return fmt.Sprintf("names no key of [%s]; its keys: %s", table, strings.Join(keys, ", "))
	}
	if k := closest(given, keys); k != "" {
		return fmt.Sprintf("names no key of [%s]; did you mean %s?", table, envName(append(path, k)...))
	}
	return fmt.Sprintf("names no key of [%s]; its keys: %s", table, strings.Join(keys, ", "))
}
