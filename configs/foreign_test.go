package configs

import (
	"path/filepath"
	"strings"
	"testing"
)

// Defect (r61 pm2 trial): PM2's key names got no hint but the list of
// ~90 keys, and cwd got a wrong one: `did you mean "cmd"?`, which breaks
// the watcher of a user who follows it. Each now names poold's key (or
// says there is none), and no foreign key is guessed at.
func TestPM2KeysNamePooldsKey(t *testing.T) {
	_, err := Load(filepath.Join("testdata", "bad_pm2_keys.toml"))
	if err == nil {
		t.Fatal("Load accepted PM2's key names")
	}
	got := err.Error()
	for _, want := range []string{
		`watchers.web.cwd: unknown key; cwd is PM2's name: poold's is "working_dir" (README "Coming from PM2" maps the others)`,
		`watchers.web.instances: unknown key; instances is PM2's name: poold's is "numprocesses"; for PM2's "max" (one per CPU) set POOLD_WATCHERS_<NAME>_NUMPROCESSES=$(nproc)`,
		`watchers.web.max_memory_restart: unknown key; max_memory_restart is PM2's name: poold's is "max_rss"`,
		`watchers.web.kill_timeout: unknown key; kill_timeout is PM2's name: poold's is "graceful_timeout"`,
		`watchers.web.script: unknown key; script is PM2's name: poold's is "cmd"`,
		`watchers.web.interpreter: unknown key; interpreter is PM2's name: poold's is "cmd": cmd = "python3", args = ["app.py"]`,
		`watchers.web.out_file: unknown key; out_file is PM2's name: poold's is "stdout_log"`,
		`watchers.web.error_file: unknown key; error_file is PM2's name: poold's is "stderr_log"`,
		`watchers.web.min_uptime: unknown key; min_uptime is PM2's name: poold's is "backoff_reset"`,
		`watchers.web.max_restarts: unknown key; max_restarts is PM2's name: poold's is "flapping_attempts"`,
		`watchers.web.listen_timeout: unknown key; listen_timeout is PM2's name: poold's is "ready_timeout"`,
		`watchers.web.wait_ready: unknown key; wait_ready is PM2's name: poold's is "readiness" = "notify"`,
		`watchers.web.restart_delay: unknown key; restart_delay is PM2's name: poold's is "backoff_min"`,
		`watchers.web.exp_backoff_restart_delay: unknown key; exp_backoff_restart_delay is PM2's name: poold's is "backoff_min"`,
		`watchers.web.env_production: unknown key; env_production is PM2's and has no poold key: poold has no per-environment sections`,
		"watchers.web.cron_restart: unknown key; cron_restart is PM2's and has no poold key: run `poolctl reload NAME` from cron",
		"watchers.web.watch: unknown key; watch is PM2's and has no poold key: poold watches no files",
		// A socket has no working_dir: no hint, and no guess either.
		"sockets.web.cwd: unknown key; valid keys: ",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q", want)
		}
	}
	if strings.Contains(got, `did you mean`) {
		t.Errorf("a foreign key got a guess:\n%s", got)
	}
	if t.Failed() {
		t.Logf("error:\n%s", got)
	}
}

// The same keys given to set (poolctl set NAME cwd /tmp) and as POOLD_*
// overrides: the hint, never closest's guess of another key.
func TestPM2KeysInSetAndOverrides(t *testing.T) {
	if _, err := WatcherFromOptions("web", "/bin/app", map[string]any{"cwd": "/tmp"}, testSockets); err == nil ||
		!strings.Contains(err.Error(), `cwd: unknown option; cwd is PM2's name: poold's is "working_dir"`) {
		t.Errorf("set cwd: %v", err)
	}
	for name, want := range map[string]string{
		"POOLD_WATCHERS_WEB_CWD":            `POOLD_WATCHERS_WEB_CWD: names no key of [watchers.web]; cwd is PM2's name: did you mean POOLD_WATCHERS_WEB_WORKING_DIR?`,
		"POOLD_WATCHERS_WEB_CRON_RESTART":   "POOLD_WATCHERS_WEB_CRON_RESTART: names no key of [watchers.web]; cron_restart is PM2's and has no poold key: run `poolctl reload NAME` from cron",
		"POOLD_ARBITER_LOGLEVEL":            `POOLD_ARBITER_LOGLEVEL: names no key of [arbiter]; loglevel is Circus's or supervisord's name: did you mean POOLD_ARBITER_LOG_LEVEL?`,
		"POOLD_WATCHERS_WEB_ENV_PRODUCTION": `POOLD_WATCHERS_WEB_ENV_PRODUCTION: names no key of [watchers.web]; env_production is PM2's and has no poold key`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Setenv(name, "x")
			_, err := Load(filepath.Join("testdata", "env.toml"))
			if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "CMD?") {
				t.Errorf("got %v\nwant %q", err, want)
			}
		})
	}
	if got := ClosestKey("cwd", []string{"cmd", "working_dir"}); got != "working_dir" {
		t.Errorf(`ClosestKey("cwd") = %q, want "working_dir"`, got)
	}
	if got := ClosestKey("cwd", []string{"cmd", "host"}); got != "" {
		t.Errorf(`ClosestKey("cwd") without working_dir = %q, want ""`, got)
	}
}
