package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestCircusdFlags: circusd's own flags on poold's command line, as a
// unit or init script written for circusd gives them. Each one poold has
// no equivalent for is bad usage (exit 64) in one line that says what to
// do instead, without the whole usage; it was the flag package's
// "flag provided but not defined" under the usage.
func TestCircusdFlags(t *testing.T) {
	path := writeConfig(t, t.TempDir(), "[watchers.web]\ncmd = \"sleep 1\"\n")
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // were poold to start by mistake, it stops at once
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--daemon", path}, `--daemon is circusd's; poold does not daemonize and logs to stderr: run it in the foreground under systemd (README "Under systemd")`},
		{[]string{"-daemon", path}, `--daemon is circusd's; poold does not daemonize`},
		{[]string{path, "--daemon"}, `--daemon is circusd's; poold does not daemonize`},
		{[]string{"--pidfile", "/run/circusd.pid", path}, `--pidfile is circusd's; poold runs in the foreground and writes no pid file: let the service manager track it`},
		{[]string{"--check", "--pidfile=/run/circusd.pid", path}, `--pidfile is circusd's; poold runs in the foreground and writes no pid file`},
		{[]string{"--log-output", "/var/log/circus.log", path}, `--log-output is circusd's; poold logs to its stderr: redirect it to /var/log/circus.log (poold CONFIG 2>>/var/log/circus.log), or let systemd's journal take it`},
		{[]string{"--log-output=-", path}, `--log-output is circusd's; poold logs to its stderr: leave --log-output out`},
		{[]string{"--logger-config", "log.ini", path}, `--logger-config is circusd's; poold's logging is set with --log-level and --log-format`},
	} {
		name := strings.ReplaceAll(strings.Join(tc.args, " "), path, "CONFIG")
		t.Run(name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := exitCode(run(ctx, tc.args, &out, &errb), &errb)
			stderr := errb.String()
			if code != exitUsage || !strings.HasPrefix(stderr, "poold: "+tc.want) || strings.Count(stderr, "\n") != 1 || out.Len() != 0 {
				t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant exit 64 and one line starting %q", code, out.String(), stderr, "poold: "+tc.want)
			}
		})
	}
}

// TestCircusdLogLevels: circusd's --log-level names (critical, error,
// warning, info, debug, and their upper-case forms) are taken, mapped as
// the circus.ini translator maps loglevel; warning and critical were
// refused.
func TestCircusdLogLevels(t *testing.T) {
	path := writeConfig(t, t.TempDir(), "[watchers.web]\ncmd = \"sleep 1\"\n")
	for level, want := range map[string]string{
		"warning": "warn", "WARNING": "warn", "critical": "error", "CRITICAL": "error",
		"ERROR": "ERROR", "INFO": "INFO", "DEBUG": "DEBUG", "warn": "warn",
	} {
		t.Run(level, func(t *testing.T) {
			var out, errb bytes.Buffer
			o, err := parseFlags([]string{"--log-level", level, path}, &errb)
			if err != nil || o.logLevel != want {
				t.Errorf("--log-level %s: level %q, error %v; want %q", level, o.logLevel, err, want)
			}
			code := exitCode(run(context.Background(), []string{"--check", "--log-level", level, path}, &out, &errb), &errb)
			if code != 0 || !strings.HasSuffix(out.String(), ": ok (0 sockets, 1 watcher)\n") {
				t.Errorf("--check --log-level %s: exit %d, stdout %q, stderr %q; want 0 and ok", level, code, out.String(), errb.String())
			}
		})
	}
}
