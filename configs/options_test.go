package configs

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var testSockets = []Socket{{Name: "web"}, {Name: "api"}}

// fromJSON turns v into what the control protocol's JSON decoder gives.
func fromJSON(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestOptionsRoundTrip(t *testing.T) {
	cfg, err := Load("testdata/good.toml")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range cfg.Watchers {
		t.Run(w.Name, func(t *testing.T) {
			opts := WatcherOptions(w)
			if d := cmp.Diff(WatcherOptionKeys(), sortedKeys(opts)); d != "" {
				t.Errorf("option keys (-want +got):\n%s", d)
			}
			// Straight from the map, and through JSON as on the wire.
			for _, o := range []map[string]any{opts, fromJSON(t, opts)} {
				got, err := WatcherFromOptions(w.Name, "", o, cfg.Sockets)
				if err != nil {
					t.Fatal(err)
				}
				if d := cmp.Diff(w, got); d != "" {
					t.Errorf("round trip (-want +got):\n%s", d)
				}
			}
		})
	}
}

func TestWatcherOptionsWireForm(t *testing.T) {
	w := DefaultWatcher("web")
	w.Cmd = "/bin/app"
	w.StopSignal = syscall.SIGQUIT
	w.GracefulTimeout = 1500 * time.Millisecond
	w.Umask = 0o22
	w.Rlimits = map[string]uint64{"nofile": 10, "core": RlimitUnlimited}
	o := WatcherOptions(w)
	checks := map[string]any{
		"stop_signal":      "QUIT",
		"graceful_timeout": 1.5,
		"umask":            "022",
		"numprocesses":     1,
		"args":             []string{},
		"env":              []string{},
		"rlimits":          map[string]any{"nofile": uint64(10), "core": "unlimited"},
		"cmd":              "/bin/app",
		"autostart":        true,
	}
	for k, want := range checks {
		if d := cmp.Diff(want, o[k]); d != "" {
			t.Errorf("%s (-want +got):\n%s", k, d)
		}
	}
	if WatcherOptions(DefaultWatcher("x"))["umask"] != "" {
		t.Errorf("inherited umask should be \"\"")
	}
}

func TestWatcherFromOptions(t *testing.T) {
	opts := fromJSON(t, map[string]any{
		"args":             []string{"--fd", "$(pool.sockets.api)"},
		"numprocesses":     3,
		"env":              map[string]string{"Path": "$PATH:/x", "B": "1"}, // Circus clients send an object
		"graceful_timeout": 2,
		"stop_signal":      "sigint",
		"sockets":          []string{"web"},
	})
	w, err := WatcherFromOptions("App", "/bin/app", opts, testSockets)
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultWatcher("App")
	want.Cmd = "/bin/app"
	want.Args = []string{"--fd", "$(pool.sockets.api)"}
	want.NumProcesses = 3
	want.Env = []string{"B=1", "Path=$PATH:/x"}
	want.GracefulTimeout = 2 * time.Second
	want.StopSignal = syscall.SIGINT
	want.Sockets = []string{"web"}
	if d := cmp.Diff(want, w); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	if got := w.SocketNames(testSockets); !cmp.Equal(got, []string{"web", "api"}) {
		t.Errorf("SocketNames = %v", got)
	}
}

func TestOptionErrors(t *testing.T) {
	base, err := WatcherFromOptions("web", "/bin/app", nil, testSockets)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		opts map[string]any
		want []string
	}{
		{"unknown option", map[string]any{"numprocs": 2.0}, []string{`configs: watcher "web": numprocs: unknown option; did you mean "numprocesses"?`}},
		{"unknown option lists valid", map[string]any{"colour": "blue"}, []string{"colour: unknown option; valid options: args, autostart"}},
		{"negative", map[string]any{"numprocesses": -2.0}, []string{`configs: watcher "web": numprocesses: must be >= 0, got -2`}},
		{"several", map[string]any{"numprocesses": "x", "stop_signal": "NOPE", "sockets": []any{"zzz"}, "backoff_min": 60.0, "backoff_max": 1.0}, []string{
			`numprocesses: must be an integer, got string "x"`,
			"stop_signal: must be a signal name",
			`sockets[0]: unknown socket "zzz"; defined sockets: api, web`,
			"backoff_min: (1m0s) must not exceed backoff_max (1s)",
		}},
		{"empty cmd", map[string]any{"cmd": ""}, []string{"cmd: missing"}},
		// What the file refuses, set refuses too: no worker could start.
		{"nofile over fs.nr_open", map[string]any{"rlimits": map[string]any{"nofile": 99999999999.0}}, []string{
			`configs: watcher "web": rlimits.nofile: 99999999999 is over the kernel's most open files per process (fs.nr_open `}},
		{"nofile unlimited", map[string]any{"rlimits": map[string]any{"nofile": "unlimited"}}, []string{
			`configs: watcher "web": rlimits.nofile: unlimited is over the kernel's most open files per process`}},
		{"NUL in env", map[string]any{"env": []any{"A=B\x00C"}}, []string{`configs: watcher "web": env[0]: contains a NUL byte`}},
		{"NUL in working_dir", map[string]any{"working_dir": "/tmp\x00"}, []string{`working_dir: contains a NUL byte`}},
		// r58b: set memory_max 4096 OOM-killed poold on cgroup v1; poolctl
		// sends the number as a string.
		{"memory_max under the floor", map[string]any{"memory_max": "4096"}, []string{
			`memory_max: must be 0 (no limit) or at least 1048576 bytes ("1M"): no worker starts in less, got 4096 bytes; a plain number is bytes: for 4096 MiB write "4096M"`}},
		{"memory_max under the floor, a number", map[string]any{"memory_max": 512.0}, []string{`got 512 bytes; a plain number is bytes: for 512 MiB write "512M"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ApplyOptions(base, tt.opts, testSockets)
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("ApplyOptions = %v, want *Error", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%s", w, err)
				}
			}
			if d := cmp.Diff(base, got); d != "" {
				t.Errorf("watcher changed on error (-want +got):\n%s", d)
			}
		})
	}
	if _, err := WatcherFromOptions("bad name", "/bin/app", nil, nil); err == nil || !strings.Contains(err.Error(), `name: bad watcher name "bad name"`) {
		t.Errorf("bad name: %v", err)
	}
	// A name too long for the paths made from it (its notify socket's
	// may not pass 107 bytes) is refused, not left to fail every spawn.
	if _, err := WatcherFromOptions(strings.Repeat("a", 65), "/bin/app", nil, nil); err == nil || !strings.Contains(err.Error(), "1 to 64") {
		t.Errorf("65-character name: %v", err)
	}
	if _, err := WatcherFromOptions(strings.Repeat("a", 64), "/bin/app", nil, nil); err != nil {
		t.Errorf("64-character name: %v", err)
	}
}

func TestApplyOptions(t *testing.T) {
	base, err := WatcherFromOptions("web", "/bin/app", map[string]any{"env": []any{"A=1"}}, testSockets)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ApplyOptions(base, map[string]any{"numprocesses": 5.0, "env": []any{"A=2", "B=$X"}, "warmup_delay": "250ms"}, testSockets)
	if err != nil {
		t.Fatal(err)
	}
	if got.NumProcesses != 5 || got.WarmupDelay != 250*time.Millisecond || !cmp.Equal(got.Env, []string{"A=2", "B=$X"}) {
		t.Errorf("ApplyOptions = %+v", got)
	}
	if !cmp.Equal(base.Env, []string{"A=1"}) || base.NumProcesses != 1 {
		t.Errorf("ApplyOptions changed its input: %+v", base)
	}
}

// TestAddRefusesUnspawnable: add checks a new watcher as the file does;
// a NUL byte in cmd would fail every exec with a bare "invalid argument".
func TestAddRefusesUnspawnable(t *testing.T) {
	_, err := WatcherFromOptions("x", "\x00", map[string]any{"rlimits": map[string]any{"nofile": "unlimited"}}, testSockets)
	for _, want := range []string{`configs: watcher "x": cmd: contains a NUL byte`, `configs: watcher "x": rlimits.nofile: unlimited is over`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("WatcherFromOptions = %v, want %q", err, want)
		}
	}
}

// TestEnvAsOneStringSaysHowToWriteIt: env given one "KEY=VALUE" string
// (poolctl set web env FOO=bar, or env = "FOO=bar" in a file) was
// refused as "must be a list of strings, got string", with no word of the
// form that works.
func TestEnvAsOneStringSaysHowToWriteIt(t *testing.T) {
	w := DefaultWatcher("web")
	w.Cmd = "/bin/true"
	_, err := ApplyOptions(w, map[string]any{"env": "FOO=bar"}, nil)
	if want := `poolctl set NAME env '["FOO=bar"]'`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("set env FOO=bar: %v, want the form %s", err, want)
	}
	path := filepath.Join(t.TempDir(), "poold.toml")
	if err := os.WriteFile(path, []byte("[watchers.web]\ncmd = \"/bin/true\"\nenv = \"FOO=bar\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Load(path)
	if want := `watchers.web.env: must be a list of "KEY=VALUE" strings, got the string "FOO=bar"; write env = ["FOO=bar"]`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("env = \"FOO=bar\" in a file: %v, want %q", err, want)
	}
}
