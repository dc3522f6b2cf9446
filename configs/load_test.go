package configs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.toml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Load(missing) = %v, want os.ErrNotExist", err)
	}
	if !strings.Contains(err.Error(), "nope.toml") {
		t.Errorf("error %q does not name the file", err)
	}
}

func TestLoadGood(t *testing.T) {
	cfg, err := Load("testdata/good.toml")
	if err != nil {
		t.Fatal(err)
	}
	wantArbiter := Arbiter{
		Endpoint:       "tcp://127.0.0.1:5555",
		PubSubEndpoint: DefaultPubSubEndpoint(),
		StatsEndpoint:  DefaultStatsEndpoint(),
		StatsInterval:  2500 * time.Millisecond,
		MaxProcesses:   DefaultMaxTotal,
		LogLevel:       "debug",
		LogFormat:      "json",
		EventHistory:   DefaultEventHistory,
		StuckAfter:     DefaultStuckAfter,
	}
	if d := cmp.Diff(wantArbiter, cfg.Arbiter); d != "" {
		t.Errorf("arbiter (-want +got):\n%s", d)
	}
	if d := cmp.Diff(DefaultWeb(), cfg.Web); d != "" {
		t.Errorf("web (-want +got):\n%s", d)
	}
	wantSockets := []Socket{
		{Name: "admin", Family: "unix", Host: DefaultSocketHost, Path: "/tmp/poold-good-admin.sock", Backlog: DefaultBacklog, Mode: 0o600},
		{Name: "api", Family: "tcp6", Host: "::1", Port: 0, Backlog: 128, Mode: DefaultSocketMode, ReplaceStale: true, NonBlocking: true},
		{Name: "web", Family: "tcp", Host: "127.0.0.1", Port: 8000, Backlog: DefaultBacklog, ReusePort: true, Mode: DefaultSocketMode, ReplaceStale: true},
	}
	if d := cmp.Diff(wantSockets, cfg.Sockets); d != "" {
		t.Errorf("sockets (-want +got):\n%s", d)
	}
	var names []string
	for _, w := range cfg.Watchers {
		names = append(names, w.Name)
	}
	if d := cmp.Diff([]string{"high", "alpha", "beta", "web"}, names); d != "" {
		t.Errorf("watcher order (-want +got):\n%s", d)
	}
	web := cfg.Watchers[3]
	want := DefaultWatcher("web")
	want.Cmd = "/usr/bin/env"
	want.Args = []string{"--fd", "$(pool.sockets.api)", "$HOME"}
	want.NumProcesses = 3
	want.Env = []string{"Path=/opt/$VENV/bin:$PATH", "MixedCase=KeepMe", "EMPTY="}
	want.Sockets = []string{"web"}
	want.StopSignal = syscall.SIGQUIT
	want.GracefulTimeout = 90 * time.Second
	want.WarmupDelay = 500 * time.Millisecond
	want.Umask = 0o027
	want.Rlimits = map[string]uint64{"nofile": 4096, "core": RlimitUnlimited}
	want.BackoffMin = time.Second
	want.BackoffMax = time.Minute
	want.BackoffReset = 90 * time.Second
	if d := cmp.Diff(want, web); d != "" {
		t.Errorf("watcher web (-want +got):\n%s", d)
	}
	if got := cfg.Watchers[0].StopSignal; got != syscall.SIGINT {
		t.Errorf("high.stop_signal = %v, want SIGINT (from the number 2)", got)
	}
	beta := cfg.Watchers[2]
	if beta.StopSignal != syscall.SIGHUP || beta.Autostart || beta.Respawn || !beta.UseSockets {
		t.Errorf("beta = %+v", beta)
	}
	alpha := cfg.Watchers[1]
	if d := cmp.Diff(DefaultWatcher("alpha"), alpha, cmpopts.IgnoreFields(Watcher{}, "Cmd", "WorkingDir", "UID", "GID")); d != "" {
		t.Errorf("alpha should have defaults (-want +got):\n%s", d)
	}
	if got, want := web.SocketNames(cfg.Sockets), []string{"web", "api"}; !cmp.Equal(got, want) {
		t.Errorf("web.SocketNames = %v, want %v", got, want)
	}
	if got, want := beta.SocketNames(cfg.Sockets), []string{"admin", "api", "web"}; !cmp.Equal(got, want) {
		t.Errorf("beta.SocketNames = %v, want %v", got, want)
	}
}

// TestExamples loads the shipped examples; the TOML and YAML ones are twins.
func TestExamples(t *testing.T) {
	toml, err := Load("example.toml")
	if err != nil {
		t.Fatal(err)
	}
	yaml, err := Load("example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// No warnings: a checkout is readable by all, and the example's env
	// holds no secret.
	for _, cfg := range []*Config{toml, yaml} {
		if len(cfg.Warnings) > 0 {
			t.Errorf("%s: warnings %q", cfg.Path, cfg.Warnings)
		}
	}
	if len(toml.Watchers) != 1 || toml.Watchers[0].NumProcesses != 4 || toml.Watchers[0].GracefulTimeout != 10*time.Second {
		t.Errorf("example.toml watchers = %+v", toml.Watchers)
	}
	if !toml.Web.Enabled || toml.Web.Address != "127.0.0.1:8080" {
		t.Errorf("example.toml web = %+v", toml.Web)
	}
	g, err := Load("gunicorn.toml")
	if err != nil {
		t.Fatal(err)
	}
	if got := g.Watchers[0].SocketNames(g.Sockets); !cmp.Equal(got, []string{"web"}) {
		t.Errorf("gunicorn SocketNames = %v", got)
	}
}

// TestLoadJSONAndYAML checks that the same content reads the same in every
// format, including numbers that JSON gives as float64.
func TestLoadFormats(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"c.toml": "[sockets.s]\nport = 9000\n[watchers.w]\ncmd = \"/bin/true\"\nnumprocesses = 2\nwarmup_delay = 1.5\numask = 18\nenv = [\"A=$B\"]\nsockets = [\"s\"]\n",
		"c.yaml": "sockets:\n  s:\n    port: 9000\nwatchers:\n  w:\n    cmd: /bin/true\n    numprocesses: 2\n    warmup_delay: 1.5\n    umask: \"022\"\n    env: [\"A=$B\"]\n    sockets: [s]\n",
		"c.yml":  "sockets: {s: {port: 9000}}\nwatchers: {w: {cmd: /bin/true, numprocesses: 2, warmup_delay: 1500ms, umask: 18, env: [\"A=$B\"], sockets: [s]}}\n",
		"c.json": `{"sockets": {"s": {"port": 9000}}, "watchers": {"w": {"cmd": "/bin/true", "numprocesses": 2, "warmup_delay": "1.5", "umask": "0o22", "env": ["A=$B"], "sockets": ["s"]}}}`,
	}
	// A UTF-8 byte order mark at the start, as some editors write, is skipped.
	files["bom.toml"], files["bom.json"] = "\ufeff"+files["c.toml"], "\ufeff"+files["c.json"]
	var first *Config
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := Load(path)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if first == nil {
			first = cfg
			continue
		}
		if d := cmp.Diff(first, cfg, cmpopts.IgnoreFields(Config{}, "Path"), cmpopts.IgnoreUnexported(Config{})); d != "" {
			t.Errorf("%s differs (-first +this):\n%s", name, d)
		}
	}
	if w := first.Watchers[0]; w.WarmupDelay != 1500*time.Millisecond || w.Umask != 0o22 || w.Env[0] != "A=$B" {
		t.Errorf("watcher = %+v", w)
	}
}

func TestEnvOverride(t *testing.T) {
	path := filepath.Join(t.TempDir(), "poold.toml")
	content := "[sockets.web]\nport = 8000\n[watchers.my-app]\ncmd = \"/bin/true\"\nnumprocesses = 2\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("POOLD_ARBITER_ENDPOINT", "ipc:///tmp/Some$Dir/c.sock")
	t.Setenv("POOLD_WEB_ENABLED", "true")
	t.Setenv("POOLD_SOCKETS_WEB_PORT", "9001")
	t.Setenv("POOLD_WATCHERS_MY_APP_NUMPROCESSES", "8")
	t.Setenv("POOLD_WATCHERS_MY_APP_GRACEFUL_TIMEOUT", "2.5")
	t.Setenv("POOLD_WATCHERS_MY_APP_ENV", `["Home=$HOME", "X=a b"]`)
	t.Setenv("POOLD_WATCHERS_MY_APP_ARGS", "--a  --b")
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	w := cfg.Watchers[0]
	if cfg.Arbiter.Endpoint != "ipc:///tmp/Some$Dir/c.sock" || !cfg.Web.Enabled || cfg.Sockets[0].Port != 9001 {
		t.Errorf("overrides not applied: %+v %+v %+v", cfg.Arbiter, cfg.Web, cfg.Sockets)
	}
	if w.NumProcesses != 8 || w.GracefulTimeout != 2500*time.Millisecond {
		t.Errorf("watcher overrides not applied: %+v", w)
	}
	if d := cmp.Diff([]string{"Home=$HOME", "X=a b"}, w.Env); d != "" {
		t.Errorf("env (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"--a", "--b"}, w.Args); d != "" {
		t.Errorf("args (-want +got):\n%s", d)
	}
	if len(cfg.Watchers) != 1 {
		t.Errorf("an override created a watcher: %+v", cfg.Watchers)
	}

	t.Setenv("POOLD_WATCHERS_MY_APP_NUMPROCESSES", "many")
	_, err = Load(path)
	want := `watchers.my-app.numprocesses: must be an integer, got "many" (from environment variable POOLD_WATCHERS_MY_APP_NUMPROCESSES)`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("bad override: got %v, want %q", err, want)
	}
}

// TestNamesWithDots checks that viper's key delimiter does not split names.
func TestNamesWithDots(t *testing.T) {
	path := filepath.Join(t.TempDir(), "poold.toml")
	content := "[sockets.\"api.v2\"]\nport = 0\n[watchers.\"api.v2\"]\ncmd = \"/bin/true\"\nsockets = [\"api.v2\"]\n[watchers.empty]\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	// The empty section must not vanish: it has no cmd.
	if err == nil || !strings.Contains(err.Error(), "watchers.empty.cmd: missing") || strings.Count(err.Error(), "\n") != 0 {
		t.Fatalf("got %v, want only watchers.empty.cmd missing", err)
	}
}

func TestLoadReloadIndependent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "poold.yaml")
	write := func(n int) {
		t.Helper()
		c := "watchers:\n  w:\n    cmd: /bin/true\n    numprocesses: " + string(rune('0'+n)) + "\n"
		if err := os.WriteFile(path, []byte(c), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for n := 1; n <= 3; n++ {
		write(n)
		cfg, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Watchers[0].NumProcesses != n {
			t.Fatalf("reload %d: numprocesses = %d", n, cfg.Watchers[0].NumProcesses)
		}
	}
}
