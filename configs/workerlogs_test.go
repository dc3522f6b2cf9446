package configs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The same worker-log keys in TOML, YAML and JSON decode alike.
func TestWorkerLogKeysInEveryFormat(t *testing.T) {
	dir := t.TempDir()
	want := WorkerLogs{Stdout: dir + "/$(pool.name).$(pool.wid).log", Stderr: "none", Timestamps: true, JSON: true,
		MaxSize: 1 << 20, Rotate: "daily", Keep: 7, MaxAge: 48 * time.Hour, Compress: true, Ring: 500}
	files := map[string]string{
		"p.toml": `[watchers.web]
cmd = "/bin/app"
stdout_log = "` + want.Stdout + `"
stderr_log = "none"
log_timestamps = true
log_json = true
log_max_size = "1M"
log_rotate = "daily"
log_keep = 7
log_max_age = "48h"
log_compress = true
log_ring = 500
`,
		"p.yaml": `watchers:
  web:
    cmd: /bin/app
    stdout_log: "` + want.Stdout + `"
    stderr_log: none
    log_timestamps: true
    log_json: true
    log_max_size: 1M
    log_rotate: daily
    log_keep: 7
    log_max_age: 48h
    log_compress: true
    log_ring: 500
`,
		"p.json": `{"watchers": {"web": {"cmd": "/bin/app", "stdout_log": "` + want.Stdout + `", "stderr_log": "none",
  "log_timestamps": true, "log_json": true, "log_max_size": 1048576, "log_rotate": "daily", "log_keep": 7,
  "log_max_age": 172800, "log_compress": true, "log_ring": 500}}}`,
	}
	for name, text := range files {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name)
			if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(want, cfg.Watchers[0].Logs); d != "" {
				t.Errorf("logs (-want +got):\n%s", d)
			}
			opts := WatcherOptions(cfg.Watchers[0])
			if opts["stdout_log"] != want.Stdout || opts["log_max_size"] != uint64(1<<20) || opts["log_max_age"] != 172800.0 {
				t.Errorf("options: %v", opts)
			}
		})
	}
	if d := cmp.Diff(DefaultWorkerLogs(), DefaultWatcher("x").Logs); d != "" || DefaultWorkerLogs().Stdout != "stderr" {
		t.Errorf("defaults: %+v", DefaultWatcher("x").Logs)
	}
}

// Bad worker-log options are refused with the key named, nothing applied.
func TestWorkerLogOptionErrors(t *testing.T) {
	base, err := WatcherFromOptions("web", "/bin/app", nil, testSockets)
	if err != nil {
		t.Fatal(err)
	}
	ro := t.TempDir()
	if err := os.Chmod(ro, 0o500); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		opts map[string]any
		want string
	}{
		{"relative path", map[string]any{"stdout_log": "logs/web.log"}, `stdout_log: "logs/web.log" is not an absolute path`},
		{"empty", map[string]any{"stderr_log": ""}, `stderr_log: must be "stderr"`},
		{"missing directory", map[string]any{"stdout_log": "/nonexistent/dir/web.log"}, "stdout_log: directory /nonexistent/dir of the log file is not writable"},
		{"unknown variable", map[string]any{"stdout_log": "/tmp/$(pool.pid).log"}, `stdout_log: unknown variable "pid" in a log path; known: name, wid`},
		{"bad size", map[string]any{"log_max_size": "ten megs"}, "log_max_size:"},
		{"bad period", map[string]any{"log_rotate": "weekly"}, `log_rotate: must be "hourly", "daily" or "" (no time rotation), got "weekly"`},
		{"negative keep", map[string]any{"log_keep": -1.0}, "log_keep: must be >= 0"},
		{"negative age", map[string]any{"log_max_age": "-1h"}, "log_max_age: must not be negative"},
		{"ring too big", map[string]any{"log_ring": 1e7}, "log_ring: must be between 0 and 1000000"},
		{"typo", map[string]any{"stdout_logs": "none"}, `stdout_logs: unknown option; did you mean "stdout_log"?`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ApplyOptions(base, tt.opts, testSockets)
			var ce *Error
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ApplyOptions(%v) = %v, want an error containing %q", tt.opts, err, tt.want)
			}
			if d := cmp.Diff(base, got); d != "" {
				t.Errorf("watcher changed on error (-want +got):\n%s", d)
			}
		})
	}
	if os.Geteuid() != 0 { // root writes anywhere
		if _, err := ApplyOptions(base, map[string]any{"stdout_log": ro + "/w.log"}, testSockets); err == nil {
			t.Errorf("a read-only directory was accepted")
		}
	}
	got, err := ApplyOptions(base, map[string]any{"stdout_log": "none", "stderr_log": ro + "/$(pool.name).log", "log_max_size": "10M"}, testSockets)
	if err != nil {
		t.Fatal(err)
	}
	if got.Logs.Stdout != "none" || got.Logs.MaxSize != 10<<20 || LogPath(got.Logs.Stderr, "web", 2) != ro+"/web.log" {
		t.Errorf("applied: %+v", got.Logs)
	}
}
