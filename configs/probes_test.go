package configs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// TestLoadGoodProbes checks every readiness, reload, flapping, health,
// limit and depends_on key, and that the YAML twin reads the same.
func TestLoadGoodProbes(t *testing.T) {
	cfg, err := Load("testdata/good_probes.toml")
	if err != nil {
		t.Fatal(err)
	}
	twin, err := Load("testdata/good_probes.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(cfg, twin, cmpopts.IgnoreFields(Config{}, "Path", "Warnings"), cmpopts.IgnoreUnexported(Config{})); d != "" {
		t.Errorf("good_probes.toml and good_probes.yaml differ (-toml +yaml):\n%s", d)
	}
	byName := map[string]Watcher{}
	for _, w := range cfg.Watchers {
		byName[w.Name] = w
	}

	web := DefaultWatcher("web")
	web.Cmd = "/usr/bin/app"
	web.Args = []string{"--fd", "$(pool.sockets.web)", "--admin", "127.0.0.1:90$(pool.wid)"}
	web.NumProcesses = 4
	web.Sockets = []string{"web"}
	web.Readiness = "http"
	web.ReadyDelay = 500 * time.Millisecond
	web.ReadyTimeout = 30 * time.Second
	web.ReadyAddress = "127.0.0.1:9000"
	web.ReadyURL = "http://127.0.0.1:90$(pool.wid)/ready"
	web.MaxSurge = SurgeOf(2)
	web.MaxAge = 6 * time.Hour
	web.MaxAgeVariance = 30 * time.Minute
	web.FlappingAttempts = 3
	web.FlappingWindow = time.Minute
	web.FlappingRetryIn = 20 * time.Second
	web.FlappingMaxRetry = 0
	web.HealthCheck = "http" // lower-cased from "HTTP"
	web.HealthURL = "http://localhost:90$(pool.wid)/healthz"
	web.HealthCmd = "/bin/check $POOLD_PID"
	web.HealthInterval = 15 * time.Second
	web.HealthTimeout = 2500 * time.Millisecond
	web.HealthThreshold = 5
	web.MaxRSS = 512 << 20
	web.MaxCPU = 90.5
	web.LimitThreshold = 4
	web.DependsOn = []string{"cache", "DB"}
	if d := cmp.Diff(web, byName["web"]); d != "" {
		t.Errorf("watcher web (-want +got):\n%s", d)
	}

	db := DefaultWatcher("db")
	db.Cmd = "/usr/bin/db"
	db.Readiness = "notify"
	db.ReadyTimeout = 2 * time.Minute
	db.SendHUP = true
	db.MaxRSS = 3 << 29 // 1.5 GiB
	db.MaxCPU = 250
	if d := cmp.Diff(db, byName["db"]); d != "" {
		t.Errorf("watcher db (-want +got):\n%s", d)
	}
	if c := byName["cache"]; c.Readiness != "tcp" || c.MaxRSS != 256<<20 || c.HealthAddress != "[::1]:6379" {
		t.Errorf("watcher cache = %+v", c)
	}
	if w := byName["worker"]; w.MaxRSS != 64<<10 || w.FlappingAttempts != 0 || w.FlappingWindow != 0 || w.ReadyDelay != 3*time.Second {
		t.Errorf("watcher worker = %+v", w)
	}
}

// TestProbeOptionsRoundTrip takes every watcher of good_probes.toml
// through the wire form and back, directly and through JSON.
func TestProbeOptionsRoundTrip(t *testing.T) {
	cfg, err := Load("testdata/good_probes.toml")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range cfg.Watchers {
		t.Run(w.Name, func(t *testing.T) {
			opts := WatcherOptions(w)
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
	if err := CheckDependsOn(cfg.Watchers); err != nil {
		t.Errorf("CheckDependsOn(good) = %v", err)
	}
}

func TestProbeWireForm(t *testing.T) {
	w := DefaultWatcher("web")
	w.MaxRSS = 512 << 20
	w.MaxCPU = 150
	w.ReadyTimeout = 1500 * time.Millisecond
	w.DependsOn = []string{"db"}
	o := WatcherOptions(w)
	checks := map[string]any{
		"readiness":          "spawn",
		"ready_delay":        1.0,
		"ready_timeout":      1.5,
		"ready_address":      "",
		"max_surge":          "100%",
		"send_hup":           false,
		"max_age":            0.0,
		"flapping_attempts":  5,
		"flapping_window":    10.0,
		"flapping_retry_in":  7.0,
		"flapping_max_retry": 5,
		"health_check":       "",
		"health_interval":    10.0,
		"health_timeout":     5.0,
		"health_threshold":   3,
		"max_rss":            uint64(512 << 20),
		"max_cpu":            150.0,
		"limit_threshold":    3,
		"depends_on":         []string{"db"},
	}
	for k, want := range checks {
		if d := cmp.Diff(want, o[k]); d != "" {
			t.Errorf("%s (-want +got):\n%s", k, d)
		}
	}
	if got := WatcherOptions(DefaultWatcher("x"))["depends_on"]; !cmp.Equal(got, []string{}) {
		t.Errorf("empty depends_on = %#v, want []", got)
	}
}

func TestProbeOptionErrors(t *testing.T) {
	sockets := []Socket{{Name: "web", Family: "tcp", Host: "127.0.0.1", Port: 8000}}
	base, err := WatcherFromOptions("web", "/bin/app", nil, sockets)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		opts map[string]any
		want []string
	}{
		{"tcp needs an address", map[string]any{"readiness": "tcp"}, []string{`configs: watcher "web": ready_address: missing: readiness "tcp"`}},
		{"address shape", map[string]any{"readiness": "tcp", "ready_address": "8000"}, []string{`ready_address: must be "HOST:PORT"`}},
		{"shared socket", map[string]any{"readiness": "http", "ready_url": "http://127.0.0.1:8000/"}, []string{`ready_url: 127.0.0.1:8000 is socket "web"`}},
		{"health exec", map[string]any{"health_check": "exec"}, []string{`health_cmd: missing: health_check "exec"`}},
		{"numbers", map[string]any{"max_surge": 0.0, "max_rss": "lots", "max_cpu": -1.0, "health_timeout": 0.0}, []string{
			`max_surge: must be a number of workers >= 1 or a share of numprocesses such as "25%", got 0`,
			`max_rss: must be a size in bytes`,
			"max_cpu: must be >= 0 (0 = no limit), got -1",
			"health_timeout: must be a positive duration, got 0s",
		}},
		{"flapping window", map[string]any{"flapping_window": 0.0}, []string{"flapping_window: must be a positive duration while flapping_attempts is 5"}},
		{"self dependency", map[string]any{"depends_on": []any{"WEB"}}, []string{`depends_on[0]: watcher "WEB" cannot depend on itself`}},
		{"unknown variable", map[string]any{"health_url": "http://h:$(pool.port)/"}, []string{`health_url: unknown variable "port"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ApplyOptions(base, tt.opts, sockets)
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
	// Set together, the keys that need each other pass.
	got, err := ApplyOptions(base, map[string]any{"readiness": "TCP", "ready_address": "127.0.0.1:9001", "max_rss": 1024.0, "max_cpu": "50%"}, sockets)
	if err != nil {
		t.Fatal(err)
	}
	if got.Readiness != "tcp" || got.ReadyAddress != "127.0.0.1:9001" || got.MaxRSS != 1024 || got.MaxCPU != 50 {
		t.Errorf("ApplyOptions = %+v", got)
	}
}

func TestCheckDependsOn(t *testing.T) {
	w := func(name string, deps ...string) Watcher {
		x := DefaultWatcher(name)
		x.DependsOn = deps
		return x
	}
	tests := []struct {
		name string
		ws   []Watcher
		want []string // one per problem; nil = no error
	}{
		{"none", []Watcher{w("a"), w("b")}, nil},
		{"chain, names any case", []Watcher{w("a", "B"), w("B", "c"), w("c")}, nil},
		{"diamond", []Watcher{w("a", "b", "c"), w("b", "d"), w("c", "d"), w("d")}, nil},
		{"unknown", []Watcher{w("a", "zz")}, []string{`configs: watchers.a.depends_on[0]: unknown watcher "zz"; no other watchers are defined`}},
		{"two-cycle", []Watcher{w("b", "a"), w("a", "b")}, []string{"configs: watchers.a.depends_on: cycle a -> b -> a: remove one of these dependencies"}},
		{"three-cycle found from outside", []Watcher{w("a", "x"), w("x", "y"), w("y", "z"), w("z", "x")}, []string{"watchers.x.depends_on: cycle x -> y -> z -> x"}},
		{"cycle keeps names' case", []Watcher{w("Api", "db"), w("db", "API")}, []string{"watchers.Api.depends_on: cycle Api -> db -> Api"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckDependsOn(tt.ws)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("CheckDependsOn = %v, want nil", err)
				}
				return
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("CheckDependsOn = %v, want *Error", err)
			}
			if len(ce.Problems) != len(tt.want) {
				t.Errorf("got %d problems, want %d:\n%s", len(ce.Problems), len(tt.want), err)
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error does not contain %q:\n%s", want, err)
				}
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	good := map[string]uint64{
		"0": 0, "4096": 4096, "512M": 512 << 20, "512m": 512 << 20, "1.5G": 3 << 29,
		"64K": 64 << 10, "64KiB": 64 << 10, "64kb": 64 << 10, "2T": 2 << 40, " 7 M ": 7 << 20, "10B": 10,
	}
	for in, want := range good {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "M", "-1", "-1M", "12X", "1.2.3M", "lots", "99999999999999999999", "20000000T", "NaN", "1e400"} {
		if got, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", in, got)
		}
	}
}

func TestProbeEnvOverride(t *testing.T) {
	path := filepath.Join(t.TempDir(), "poold.toml")
	content := "[watchers.db]\ncmd = \"/bin/true\"\n[watchers.app]\ncmd = \"/bin/true\"\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("POOLD_WATCHERS_APP_READINESS", "tcp")
	t.Setenv("POOLD_WATCHERS_APP_READY_ADDRESS", "127.0.0.1:$(pool.env.PORT)")
	t.Setenv("POOLD_WATCHERS_APP_MAX_RSS", "256M")
	t.Setenv("POOLD_WATCHERS_APP_MAX_CPU", "80%")
	t.Setenv("POOLD_WATCHERS_APP_SEND_HUP", "true")
	t.Setenv("POOLD_WATCHERS_APP_HEALTH_INTERVAL", "2.5")
	t.Setenv("POOLD_WATCHERS_APP_DEPENDS_ON", "db")
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	var app Watcher
	for _, w := range cfg.Watchers {
		if w.Name == "app" {
			app = w
		}
	}
	if app.Readiness != "tcp" || app.ReadyAddress != "127.0.0.1:$(pool.env.PORT)" || app.MaxRSS != 256<<20 || app.MaxCPU != 80 ||
		!app.SendHUP || app.HealthInterval != 2500*time.Millisecond || !cmp.Equal(app.DependsOn, []string{"db"}) {
		t.Errorf("overrides not applied: %+v", app)
	}

	t.Setenv("POOLD_WATCHERS_DB_DEPENDS_ON", `["app"]`)
	t.Setenv("POOLD_WATCHERS_APP_MAX_RSS", "big")
	_, err = Load(path)
	for _, want := range []string{
		`watchers.app.max_rss: must be a size in bytes, or a string with a K, M, G or T suffix (binary units) such as "512M", got "big" (from environment variable POOLD_WATCHERS_APP_MAX_RSS)`,
		"watchers.app.depends_on: cycle app -> db -> app",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("bad overrides: got %v, want %q", err, want)
		}
	}
}

// TestUnusedProbeTargetsWarn: a probe target whose probe is not chosen
// (health_url without health_check = "http": the pool would run
// unchecked without a word) loads with a warning naming both keys; one
// whose probe is chosen gives none.
func TestUnusedProbeTargetsWarn(t *testing.T) {
	for _, tc := range []struct{ name, section, want string }{
		{"health_url without health_check", `health_url = "http://127.0.0.1:8000/healthz"`,
			`poold.toml:3:1: watchers.w.health_url: is set but not used: watchers.w.health_check is "", so nothing probes it; set health_check = "http" to use it, or remove health_url`},
		{"health_cmd beside tcp", "health_check = \"tcp\"\nhealth_address = \"127.0.0.1:8000\"\nhealth_cmd = \"/bin/true\"",
			`watchers.w.health_cmd: is set but not used: watchers.w.health_check is "tcp", so nothing probes it; set health_check = "exec" to use it`},
		{"ready_address with spawn", `ready_address = "127.0.0.1:8000"`,
			`watchers.w.ready_address: is set but not used: watchers.w.readiness is "spawn", so nothing probes it; set readiness = "tcp" to use it`},
		{"ready_url with tcp", "readiness = \"TCP\"\nready_address = \"127.0.0.1:8000\"\nready_url = \"http://127.0.0.1:8000/\"",
			`watchers.w.ready_url: is set but not used: watchers.w.readiness is "tcp", so nothing probes it; set readiness = "http" to use it`},
		{"used", "readiness = \"http\"\nready_url = \"http://127.0.0.1:8000/\"\nhealth_check = \"exec\"\nhealth_cmd = \"/bin/true\"", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "poold.toml")
			if err := os.WriteFile(path, []byte("[watchers.w]\ncmd = \"/bin/true\"\n"+tc.section+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Join(cfg.Warnings, "\n")
			if tc.want == "" && got != "" || !strings.Contains(got, tc.want) || len(cfg.Warnings) > 1 {
				t.Errorf("warnings %q; want one containing %q", cfg.Warnings, tc.want)
			}
		})
	}
}
