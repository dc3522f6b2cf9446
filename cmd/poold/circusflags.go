package main

import (
	"fmt"
	"strings"
)

// circusd's command line on poold's: a unit or init script written for
// circusd (circusd --daemon --pidfile P --log-level warning circus.ini)
// keeps working where poold has the setting, and otherwise says in one
// line what to do instead, as the circus.ini translator says of the same
// keys in a [circus] section (configs/circusini), rather than the flag
// package's "flag provided but not defined" under the whole usage.

// circusdLevel maps circusd's --log-level names that poold spells
// otherwise (warning, critical, in any case) to poold's, as the
// circus.ini translator maps loglevel; other names are returned as given.
func circusdLevel(level string) string {
	switch strings.ToLower(strings.TrimSpace(level)) {
	case "warning":
		return "warn"
	case "critical":
		return "error"
	}
	return level
}

// circusdFlag finds, in args up to a "--", the first of circusd's flags
// that poold has no equivalent for, and returns the usage error that
// says what to do instead (nil when there is none). It looks past CONFIG
// too: circusd takes its flags on either side of it.
func circusdFlag(args []string) error {
	for i, arg := range args {
		if arg == "--" {
			return nil
		}
		if !strings.HasPrefix(arg, "-") {
			continue
		}
		name, value, inline := strings.Cut(strings.TrimLeft(arg, "-"), "=")
		if !inline && i+1 < len(args) {
			value = args[i+1]
		}
		if hint := circusdHint(name, value); hint != "" {
			return usageError{"--" + name + " is circusd's; " + hint}
		}
	}
	return nil
}

// circusdHint is what to do instead of circusd's flag name (with its
// value, if any); "" for a flag that is not one of them.
func circusdHint(name, value string) string {
	switch name {
	case "daemon":
		return `poold does not daemonize and logs to stderr: run it in the foreground under systemd (README "Under systemd") or another service manager, or in the background with nohup poold CONFIG &`
	case "pidfile":
		return `poold runs in the foreground and writes no pid file: let the service manager track it (README "Under systemd"), or take $! after starting it with &`
	case "log-output":
		switch {
		case value == "-" || strings.EqualFold(value, "stdout") || strings.EqualFold(value, "stderr"):
			return "poold logs to its stderr: leave --log-output out (poold CONFIG 2>&1 for stdout)"
		case value == "" || strings.HasPrefix(value, "-"):
			value = "FILE"
		}
		return fmt.Sprintf("poold logs to its stderr: redirect it to %s (poold CONFIG 2>>%s), or let systemd's journal take it", value, value)
	case "logger-config":
		return "poold's logging is set with --log-level and --log-format (or [arbiter] log_level and log_format in CONFIG)"
	}
	return ""
}
