// "Did you mean": the closest Circus option or section to a misspelt one,
// by configs.Closest, the rule poold's own formats use.

package circusini

import (
	"fmt"
	"slices"
	"strings"

	"github.com/poold/poold/configs"
)

// watcherOptions are the [watcher:NAME] options watcherSimple takes
// (TestWatcherOptionsKnown checks it); watcherFamilies the prefixes of
// the others (stdout_stream.class, hooks.before_start, ...).
var (
	watcherOptions = []string{
		"cmd", "args", "copy_env", "virtualenv", "virtualenv_py_ver", "shell_args", "shell",
		"numprocesses", "priority", "max_processes", "working_dir", "uid", "gid", "umask",
		"warmup_delay", "graceful_timeout", "max_age", "max_age_variance",
		"send_hup", "use_sockets", "respawn", "autostart", "stop_signal", "stop_children",
		"max_retry", "singleton", "copy_path", "on_demand",
		"close_child_stdin", "close_child_stdout", "close_child_stderr",
		"check_flapping", "executable", "stdin_socket", "env",
	}
	watcherFamilies = []string{"stdout_stream", "stderr_stream", "hooks", "flapping"}
	// circusWatcherOnly are keyword arguments of Circus's Watcher that a
	// circus.ini can set as options but poold has no case for: spelt
	// right, so nothing to suggest.
	circusWatcherOnly = []string{"name", "prereload_fn", "rlimits", "stdout_stream", "stderr_stream", "loop", "hooks", "use_papa"}
)

// circusOptions are the [circus] options Circus reads, with poold's
// extensions (max_processes, allow_remote).
var circusOptions = []string{
	"check_delay", "endpoint", "endpoint_owner", "pubsub_endpoint", "multicast_endpoint",
	"stats_endpoint", "statsd", "umask", "warmup_delay", "httpd", "httpd_host", "httpd_port",
	"debug", "debug_gc", "pidfile", "loglevel", "logoutput", "loggerconfig", "fqdn_prefix",
	"include", "include_dir", "papa_endpoint", "max_processes", "allow_remote",
}

// socketOptions are the [socket:NAME] options Circus reads.
var socketOptions = []string{
	"host", "port", "path", "family", "type", "interface", "backlog", "so_reuseport",
	"umask", "replace", "blocking", "proto",
}

// flappingOptions are the options of Circus's flapping plugin, in
// [plugin:NAME] or as flapping.NAME in a watcher.
var flappingOptions = []string{"attempts", "window", "retry_in", "max_retry", "active"}

// suggest is "; did you mean X?" for the candidate closest to k, "" when
// none is near enough or k is one of known (spelt right).
func suggest(k string, candidates, known []string) string {
	if slices.Contains(known, k) || slices.Contains(candidates, k) {
		return ""
	}
	if c := configs.Closest(k, candidates); c != "" {
		return fmt.Sprintf("; did you mean %q?", c)
	}
	return ""
}

// unknownWatcherOption is the note on a [watcher:NAME] option none of the
// translator's cases takes.
func unknownWatcherOption(k string) string {
	const msg = "unknown [watcher:NAME] option%s Circus passes it to the watcher, poold has no equivalent"
	hint := suggest(k, watcherOptions, circusWatcherOnly)
	if head, tail, dotted := strings.Cut(k, "."); hint == "" && dotted {
		// stdout_steam.class: the family misspelt.
		if f := configs.Closest(head, watcherFamilies); f != "" && f != head {
			hint = fmt.Sprintf("; did you mean %q?", f+"."+tail)
		}
	}
	if head, tail, ok := strings.Cut(k, "_"); hint == "" && ok && head != "rlimit" && configs.Closest(head, []string{"rlimit"}) != "" {
		hint = fmt.Sprintf("; did you mean %q?", "rlimit_"+tail) // rlimits_nofile
	}
	if hint == "" {
		// poold's own keys are taken too (poolKey): a misspelt one
		// (readines) is told, after Circus's names
		hint = suggest(k, configs.WatcherOptionKeys(), circusWatcherOnly)
	}
	if hint == "" {
		return fmt.Sprintf(msg, ";")
	}
	return fmt.Sprintf(msg, hint)
}

// unknownSocketOption is the note on a [socket:NAME] option poold does
// not map: a misspelt one says which it looks like.
func unknownSocketOption(k string) string {
	if hint := suggest(k, socketOptions, nil); hint != "" {
		return "unknown [socket:NAME] option (Circus ignores it too)" + hint
	}
	return "no poold equivalent for this [socket:NAME] option"
}

// unknownSection is the note on a section Circus does not read.
func unknownSection(name string) string {
	const list = "Circus sections are [circus], [watcher:NAME], [socket:NAME], [env], [env:NAMES] and [plugin:NAME]"
	if s := sectionHint(name); s != "" {
		return fmt.Sprintf("unknown section, ignored (Circus ignores it too); did you mean [%s]? %s", s, list)
	}
	return "unknown section, ignored (Circus ignores it too); " + list
}

// sectionHint is the section name meant by name, "" when none is close:
// [watchers:web], [wacher:web] and [watcher web] are [watcher:web];
// [circs] is [circus].
func sectionHint(name string) string {
	kinds := []string{"watcher", "socket", "plugin", "env"}
	head, tail, sep := strings.Cut(name, ":")
	if !sep {
		if i := strings.IndexAny(name, " ."); i > 0 {
			head, tail, sep = name[:i], strings.TrimSpace(name[i+1:]), true
		}
	}
	if !sep {
		if c := configs.Closest(name, []string{"circus", "env"}); c != "" {
			return c
		}
		if c := configs.Closest(name, kinds[:3]); c != "" {
			return c + ":NAME" // [watcher]: the name left out
		}
		return ""
	}
	if c := configs.Closest(strings.TrimSpace(head), kinds); c != "" && tail != "" {
		return c + ":" + tail
	}
	return ""
}
