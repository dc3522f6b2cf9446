package circusini

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/configs/translate"
)

var (
	peerOnce sync.Once
	peerDir  string
	peerErr  error
)

// circusPeer extracts Circus 0.19.0 from ../shared/peers once and returns
// its source directory (for PYTHONPATH). Missing: skip, or fail under CI.
func circusPeer(t *testing.T) string {
	t.Helper()
	peerOnce.Do(func() {
		tarball, err := findPeerTarball()
		if err != nil {
			peerErr = err
			return
		}
		dir, err := os.MkdirTemp("", "circus-peer-")
		if err != nil {
			peerErr = err
			return
		}
		out, err := exec.Command("tar", "xzf", tarball, "-C", dir).CombinedOutput()
		if err != nil {
			peerErr = errors.New(strings.TrimSpace(string(out)))
			return
		}
		peerDir = filepath.Join(dir, "circus-src")
	})
	if peerErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Circus peer missing: %v", peerErr)
		}
		t.Skipf("Circus peer missing: %v", peerErr)
	}
	return peerDir
}

// findPeerTarball looks for shared/peers/circus-0.19.0.tar.gz in the
// parents of the working directory: ../shared beside a checkout, wherever
// the checkout is (CI clones main into another folder with shared/ beside).
func findPeerTarball() (string, error) {
	const rel = "shared/peers/circus-0.19.0.tar.gz"
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, rel)); err == nil {
			return filepath.Join(dir, rel), nil
		}
		if dir == filepath.Dir(dir) {
			return "", fmt.Errorf("%s not found in any parent of %s", rel, wd)
		}
	}
}

type circusWatcher struct {
	Name            string            `json:"name"`
	NumProcesses    int               `json:"numprocesses"`
	Argv            []string          `json:"argv"`
	CopyEnv         bool              `json:"copy_env"`
	Env             map[string]string `json:"env"`
	Priority        int               `json:"priority"`
	GracefulTimeout float64           `json:"graceful_timeout"`
	Rlimits         map[string]int64  `json:"rlimits"`
}

type circusSocket struct {
	Name    string  `json:"name"`
	Host    string  `json:"host"`
	Port    int     `json:"port"`
	Path    *string `json:"path"`
	Backlog int     `json:"backlog"`
}

// realCircus returns what Circus's own get_config makes of path.
func realCircus(t *testing.T, path string, environ []string) (ws []circusWatcher, ss []circusSocket) {
	t.Helper()
	var got struct {
		Watchers []circusWatcher `json:"watchers"`
		Sockets  []circusSocket  `json:"sockets"`
	}
	runCircus(t, "testdata/circus_config.py", path, environ, &got)
	return got.Watchers, got.Sockets
}

// runCircus runs a testdata script with the real Circus on path in
// environ and decodes the JSON it prints into v.
func runCircus(t *testing.T, script, path string, environ []string, v any) {
	t.Helper()
	src := circusPeer(t)
	cmd := exec.Command("/usr/bin/python3", script, path)
	cmd.Env = append(environ, "PYTHONPATH="+src)
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("%s %s: %v\n%s", script, path, err, ee.Stderr)
		}
		t.Fatal(err)
	}
	if err := json.Unmarshal(out, v); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
}

// translated is poold's configuration translated from the Circus file
// at path in environ.
func translated(t *testing.T, path string, environ []string) *configs.Config {
	t.Helper()
	doc, err := Translate(path, environ)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := configs.FromTree(path, doc.Tree())
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// testEnviron is circusd's (and poold's) environment for the test files.
func testEnviron(t *testing.T) []string {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hook.sh"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return []string{
		"PATH=/usr/bin:/bin", "HOME=/root", "USER=tester",
		"RUN_DIR=" + dir, "GUNICORN=/usr/bin/gunicorn", "APP_DIR=" + dir, "WORKER=/bin/sleep",
		"SITE_OWNER=alice", "CTL_PORT=15555", "PUB_PORT=15556", "STATS_PORT=15557",
		"WEB_PORT=18080", "GO_WORKER=/bin/sleep", "HOOK_DIR=" + dir, "SOCK_DIR=" + dir, "APP_NAME=demo",
	}
}

// TestSameAsCircus translates each test file and compares the result,
// watcher by watcher and socket by socket, with what the real Circus
// reads from the same file in the same environment.
func TestSameAsCircus(t *testing.T) {
	for _, file := range []string{"testdata/site/site.ini", "testdata/django.ini", "testdata/case/case.ini"} {
		t.Run(file, func(t *testing.T) {
			environ := testEnviron(t)
			cws, css := realCircus(t, file, environ)
			cfg := translated(t, file, environ)
			if len(cfg.Watchers) != len(cws) {
				t.Fatalf("poold has %d watchers, Circus %d", len(cfg.Watchers), len(cws))
			}
			byName := map[string]configs.Watcher{}
			for _, w := range cfg.Watchers {
				byName[w.Name] = w
			}
			for _, cw := range cws {
				w, ok := byName[cw.Name]
				if !ok {
					t.Errorf("watcher %q: missing in poold", cw.Name)
					continue
				}
				compareWatcher(t, cw, w, environMap(environ))
			}
			if len(cfg.Sockets) != len(css) {
				t.Fatalf("poold has %d sockets, Circus %d", len(cfg.Sockets), len(css))
			}
			for i, cs := range css {
				s := cfg.Sockets[i]
				if s.Name != cs.Name || s.Backlog != cs.Backlog {
					t.Errorf("socket %d: poold %+v, Circus %+v", i, s, cs)
				}
				if cs.Path != nil {
					if s.Path != *cs.Path {
						t.Errorf("socket %s: path %q, Circus %q", s.Name, s.Path, *cs.Path)
					}
				} else if s.Host != cs.Host || s.Port != cs.Port {
					t.Errorf("socket %s: %s:%d, Circus %s:%d", s.Name, s.Host, s.Port, cs.Host, cs.Port)
				}
			}
		})
	}
}

func compareWatcher(t *testing.T, cw circusWatcher, w configs.Watcher, environ map[string]string) {
	t.Helper()
	argv, err := configs.SplitCommand(w.Cmd)
	if err != nil {
		t.Fatal(err)
	}
	argv = append(argv, w.Args...)
	if !reflect.DeepEqual(argv, cw.Argv) {
		t.Errorf("%s: argv %q, Circus %q", w.Name, argv, cw.Argv)
	}
	if w.NumProcesses != cw.NumProcesses || w.Priority != cw.Priority || w.CopyEnv != cw.CopyEnv {
		t.Errorf("%s: numprocesses %d priority %d copy_env %v; Circus %d %d %v", w.Name, w.NumProcesses, w.Priority, w.CopyEnv, cw.NumProcesses, cw.Priority, cw.CopyEnv)
	}
	if got := w.GracefulTimeout.Seconds(); got != cw.GracefulTimeout {
		t.Errorf("%s: graceful_timeout %v, Circus %v", w.Name, got, cw.GracefulTimeout)
	}
	// The environment a worker gets: poold's own with copy_env, then env.
	env := map[string]string{}
	if w.CopyEnv {
		for k, v := range environ {
			env[k] = v
		}
	}
	for _, kv := range w.Env {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	// Allowed differences: Circus leaks its parser's "__name__" into the
	// env; with copy_env the Python process running get_config adds
	// PYTHONPATH (the peer) and LC_CTYPE to what it copies.
	delete(cw.Env, "__name__")
	if w.CopyEnv {
		delete(cw.Env, "PYTHONPATH")
		delete(cw.Env, "LC_CTYPE")
	}
	if !reflect.DeepEqual(env, cw.Env) {
		t.Errorf("%s: env\n%v\nCircus\n%v", w.Name, env, cw.Env)
	}
	for name, lim := range cw.Rlimits {
		want := uint64(lim)
		if lim < 0 {
			want = configs.RlimitUnlimited
		}
		if got, ok := w.Rlimits[name]; !ok || got != want {
			t.Errorf("%s: rlimit %s = %d, Circus %d", w.Name, name, got, lim)
		}
	}
	if len(w.Rlimits) != len(cw.Rlimits) {
		t.Errorf("%s: rlimits %v, Circus %v", w.Name, w.Rlimits, cw.Rlimits)
	}
}

// TestNotesNameSectionAndKey checks that each option without an
// equivalent is a warning naming its file, line, section and key, and
// an error with strict.
func TestNotesNameSectionAndKey(t *testing.T) {
	environ := testEnviron(t)
	doc, err := Translate("testdata/django.ini", environ)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"testdata/django.ini:33: [watcher:web] hooks.before_start: myapp.hooks.check_db is a Python callable, which poold cannot run",
		"testdata/django.ini:54: [plugin:statsd] use: circus.plugins.statsd.StatsdEmitter is a Python plugin",
	}
	var got []string
	for _, n := range doc.Warnings() {
		got = append(got, n.String())
	}
	all := strings.Join(got, "\n")
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Errorf("warnings lack %q:\n%s", w, all)
		}
	}
	if _, err := doc.Config(true); err == nil {
		t.Fatal("strict: want an error")
	} else {
		var se *translate.StrictError
		if !errors.As(err, &se) || len(se.Notes) != len(got) {
			t.Errorf("strict error %v", err)
		}
		// Some map with another meaning: "remove them" was wrong advice.
		if msg := err.Error(); strings.Contains(msg, "remove them") || !strings.Contains(msg, "do what its line says") {
			t.Errorf("strict error's summary: %s", msg[strings.LastIndexByte(msg, '\n')+1:])
		}
	}
	// What maps: singleton-free web keeps 2 workers; max_retry -1 never
	// gives up; the flapping plugin's options reach every watcher.
	cfg, err := doc.Config(false)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range cfg.Watchers {
		if w.FlappingAttempts != 3 || w.FlappingWindow.Seconds() != 2.5 {
			t.Errorf("%s: flapping %d/%v, want 3/2.5s from [plugin:flapping]", w.Name, w.FlappingAttempts, w.FlappingWindow)
		}
		switch w.Name {
		case "web":
			if w.Logs.Stdout != "/var/log/web.log" || w.Logs.Stderr != configs.LogToStderr {
				t.Errorf("web: stdout_stream mapped to %+v", w.Logs)
			}
			if w.FlappingMaxRetry != -1 || w.StopSignal.String() != "quit" || w.Umask != 0o2 {
				t.Errorf("web: max_retry %d stop %v umask %o", w.FlappingMaxRetry, w.StopSignal, w.Umask)
			}
		case "gohello":
			if w.Hooks["after_spawn"] == "" || w.MaxAgeVariance.Seconds() != 30 {
				t.Errorf("gohello: hooks %v max_age_variance %v", w.Hooks, w.MaxAgeVariance)
			}
		}
	}
}

func TestSingletonShellVirtualenv(t *testing.T) {
	dir := t.TempDir()
	venv := filepath.Join(dir, "venv")
	for _, d := range []string{"bin", "lib/python3.11/site-packages"} {
		if err := os.MkdirAll(filepath.Join(venv, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ini := filepath.Join(dir, "circus.ini")
	os.WriteFile(ini, []byte(`[watcher:cron]
cmd = echo $(circus.wid) | tee -a /tmp/x
shell = true
singleton = true
copy_env = true
virtualenv = `+venv+`
`), 0o644)
	doc, err := Translate(ini, []string{"PATH=/usr/bin:/bin"})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := doc.Config(false)
	if err != nil {
		t.Fatal(err)
	}
	w := cfg.Watchers[0]
	if w.Cmd != "/bin/sh" || !reflect.DeepEqual(w.Args, []string{"-c", "echo '$(circus.wid)' '|' tee -a /tmp/x"}) {
		t.Errorf("shell: cmd %q args %q", w.Cmd, w.Args)
	}
	if !w.Singleton {
		t.Errorf("singleton = true did not carry over")
	}
	wantEnv := []string{"PATH=" + venv + "/bin:/usr/bin:/bin", "PYTHONPATH=" + venv + "/lib/python3.11/site-packages"}
	if !reflect.DeepEqual(w.Env, wantEnv) {
		t.Errorf("virtualenv: env %q, want %q", w.Env, wantEnv)
	}
}
