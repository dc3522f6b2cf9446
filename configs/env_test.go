package configs

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// TestEnvUnknown sets POOLD_* variables that name no key of
// testdata/env.toml: each must be a problem naming the variable.
func TestEnvUnknown(t *testing.T) {
	for _, tc := range []struct {
		env  []string // NAME=VALUE
		want []string // substrings of the error, each on some line; none: no error
	}{
		{[]string{"POOLD_WATCHERS_WEB_NUMPROCESS=3"}, []string{
			"configs: testdata/env.toml: environment variable POOLD_WATCHERS_WEB_NUMPROCESS: names no config key; did you mean POOLD_WATCHERS_WEB_NUMPROCESSES?"}},
		{[]string{"POOLD_WEB_ADDRES=x"}, []string{`POOLD_WEB_ADDRES: names no config key; did you mean POOLD_WEB_ADDRESS?`}},
		{[]string{"POOLD_SOCKETS_WEB_HOTS=x"}, []string{`did you mean POOLD_SOCKETS_WEB_HOST?`}},
		{[]string{"POOLD_LOG_LEVEL=debug"}, []string{`POOLD_LOG_LEVEL: names no config key; did you mean POOLD_ARBITER_LOG_LEVEL (key log_level of [arbiter])?`}},
		{[]string{"POOLD_ARBITER_COLOUR=red"}, []string{`POOLD_ARBITER_COLOUR: names no key of [arbiter]; its keys: allow_remote, control_allow, control_read_only, endpoint,`}},
		{[]string{"POOLD_WATCHERS_WEB_COLOUR=red"}, []string{`POOLD_WATCHERS_WEB_COLOUR: names no key of [watchers.web]; its keys: args, autostart,`}},
		{[]string{"POOLD_WATCHERS_MY_APP_NUMPROCS=2"}, []string{`POOLD_WATCHERS_MY_APP_NUMPROCS: names no key of [watchers.my-app]; did you mean POOLD_WATCHERS_MY_APP_NUMPROCESSES?`}},
		{[]string{"POOLD_WATCHERS_COLOUR=red"}, []string{`POOLD_WATCHERS_COLOUR: names no key of a watcher (the form is POOLD_WATCHERS_<NAME>_<KEY>, NAME a watcher of the file: defined: my-app, web)`}},
		{[]string{"POOLD_FROBNICATE=1"}, []string{`POOLD_FROBNICATE: names no config key (overrides are POOLD_<SECTION>_<KEY> and POOLD_<SECTION>_<NAME>_<KEY>, SECTION one of ARBITER, SOCKETS, WATCHERS, WEB); fix its name or unset it`}},
		{[]string{"POOLD_WATCHERS_WEB_NUMPROCESS=3", "POOLD_WEB_ADDRES=x", "POOLD_WATCHERS_WEB_NUMPROCESSES=2", "POOLD_WATCHERS_GONE_CMD=x"}, []string{
			"POOLD_WATCHERS_WEB_NUMPROCESS:", "POOLD_WEB_ADDRES:"}},
		// A value refused after decoding still names its variable.
		{[]string{"POOLD_ARBITER_ENDPOINT=garbage"}, []string{`arbiter.endpoint: must be "ipc://PATH" or "tcp://HOST:PORT", got "garbage" (from environment variable POOLD_ARBITER_ENDPOINT)`}},
		// Variables poold gives its workers, and those of its tests.
		{[]string{"POOLD_WID=1", "POOLD_WATCHER=web", "POOLD_PID=42", "POOLD_EXEC_SHIM={}", "POOLD_TEST_WORKER=serve", "poold_lower=1"}, nil},
	} {
		t.Run(strings.Join(tc.env, " "), func(t *testing.T) {
			for _, kv := range tc.env {
				k, v, _ := strings.Cut(kv, "=")
				t.Setenv(k, v)
			}
			_, err := Load("testdata/env.toml")
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error; want %q", tc.want)
			}
			if n := strings.Count(err.Error(), "\n") + 1; n != len(tc.want) {
				t.Errorf("%d problems, want %d:\n%v", n, len(tc.want), err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

// TestEnvAbsentNameWarns: an override shaped as one of a socket or
// watcher the file does not define (removed or renamed since poold
// started with it in its environment, or mistyped) is ignored with a
// warning naming the variable, not a problem: it used to make every
// reload that removed that watcher fail until poold restarted.
func TestEnvAbsentNameWarns(t *testing.T) {
	const tail = " If that %s was removed or renamed, unset the variable where poold is started (poold reads its environment once, at start)"
	for _, tc := range []struct{ env, want string }{
		{"POOLD_WATCHERS_NOPE_NUMPROCESSES=2",
			`configs: testdata/env.toml: environment variable POOLD_WATCHERS_NOPE_NUMPROCESSES: ignored: the file has no watcher "nope" (an override never creates a watcher; defined: my-app, web).` + fmt.Sprintf(tail, "watcher")},
		{"POOLD_WATCHERS_WEB2_NUMPROCESSES=2",
			`POOLD_WATCHERS_WEB2_NUMPROCESSES: ignored: the file has no watcher "web2" (an override never creates a watcher; defined: my-app, web); did you mean POOLD_WATCHERS_WEB_NUMPROCESSES?` + fmt.Sprintf(tail, "watcher")},
		{"POOLD_WATCHERS_MYAPP_CMD=x", `the file has no watcher "myapp" (an override never creates a watcher; defined: my-app, web); did you mean POOLD_WATCHERS_MY_APP_CMD?`},
		{"POOLD_WATCHERS_MY_APPS_READY_TIMEOUT=1s", `the file has no watcher "my_apps" (an override never creates a watcher; defined: my-app, web); did you mean POOLD_WATCHERS_MY_APP_READY_TIMEOUT?`},
		// A removed watcher whose name begins with a defined one's.
		{"POOLD_WATCHERS_WEB_LOG_NUMPROCESSES=2", `POOLD_WATCHERS_WEB_LOG_NUMPROCESSES: ignored: the file has no watcher "web_log"`},
		{"POOLD_SOCKETS_API_PORT=1",
			`POOLD_SOCKETS_API_PORT: ignored: the file has no socket "api" (an override never creates a socket; defined: web).` + fmt.Sprintf(tail, "socket")},
	} {
		t.Run(tc.env, func(t *testing.T) {
			k, v, _ := strings.Cut(tc.env, "=")
			t.Setenv(k, v)
			cfg, err := Load("testdata/env.toml")
			if err != nil {
				t.Fatalf("Load: %v; want the variable ignored with a warning", err)
			}
			if len(cfg.Warnings) != 1 || !strings.Contains(cfg.Warnings[0], tc.want) {
				t.Fatalf("warnings %q; want one containing %q", cfg.Warnings, tc.want)
			}
			for _, w := range cfg.Watchers {
				if w.NumProcesses != 1 || w.Cmd != "/bin/true" {
					t.Errorf("watcher %s changed by %s: numprocesses %d, cmd %q", w.Name, k, w.NumProcesses, w.Cmd)
				}
			}
		})
	}
}

// TestReservedEnvCoversRepo checks that every POOLD_* name used outside
// configs is reserved or an override, so that setting it (poold for its
// workers, tests for the binaries they run) cannot make Load fail.
func TestReservedEnvCoversRepo(t *testing.T) {
	nameRE := regexp.MustCompile(`POOLD_[A-Z0-9_]*[A-Z0-9]`)
	found := 0
	err := filepath.WalkDir("..", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (path == "../configs" || strings.HasPrefix(d.Name(), ".")) && path != ".." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, name := range nameRE.FindAllString(string(b), -1) {
			found++
			if !seen[name] && !reservedEnv[name] && !isOverrideName(name) {
				seen[name] = true
				t.Errorf("%s uses %s, which is neither reserved (configs/env.go reservedEnv) nor a config override", path, name)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if found == 0 {
		t.Fatal("found no POOLD_ names in the repository: is the walk looking in the right place?")
	}
}

// isOverrideName reports whether name has the shape of an override of
// some key, for any section names.
func isOverrideName(name string) bool {
	rest := strings.TrimPrefix(name, "POOLD_")
	for _, sec := range sections {
		after, ok := strings.CutPrefix(rest, strings.ToUpper(sec)+"_")
		if !ok {
			continue
		}
		for _, k := range sectionKeys(sec) {
			if sec == "arbiter" || sec == "web" {
				if after == strings.ToUpper(k) {
					return true
				}
			} else if strings.HasSuffix(after, "_"+strings.ToUpper(k)) {
				return true
			}
		}
	}
	return false
}

// TestEnvAmbiguous: POOLD_WATCHERS_WEB_LOG_MAX_AGE could be web's
// log_max_age or web_log's max_age; it used to set both.
func TestEnvAmbiguous(t *testing.T) {
	t.Setenv("POOLD_WATCHERS_WEB_LOG_MAX_AGE", "2s")
	_, err := Load("testdata/envclash.toml")
	want := "environment variable POOLD_WATCHERS_WEB_LOG_MAX_AGE: sets watchers.web.log_max_age and watchers.web_log.max_age"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Load: %v; want %q", err, want)
	}
	t.Setenv("POOLD_WATCHERS_WEB_LOG_MAX_AGE", "")
	os.Unsetenv("POOLD_WATCHERS_WEB_LOG_MAX_AGE")
	t.Setenv("POOLD_WATCHERS_WEB_LOG_NUMPROCESSES", "3")
	cfg, err := Load("testdata/envclash.toml")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range cfg.Watchers {
		if want := map[string]int{"web": 1, "web_log": 3}[w.Name]; w.NumProcesses != want {
			t.Errorf("watcher %s: numprocesses %d, want %d", w.Name, w.NumProcesses, want)
		}
	}
}

// TestEnvAmbiguousSameKey: with watchers a-b, a.b and a_b,
// POOLD_WATCHERS_A_B_NUMPROCESSES used to set numprocesses of all three,
// when the user meant one; it is refused, naming the three. Another
// watcher's override still applies.
func TestEnvAmbiguousSameKey(t *testing.T) {
	t.Setenv("POOLD_WATCHERS_A_B_NUMPROCESSES", "3")
	_, err := Load("testdata/envsame.toml")
	want := `configs: testdata/envsame.toml: environment variable POOLD_WATCHERS_A_B_NUMPROCESSES: would set numprocesses of the watchers "a-b", "a.b" and "a_b", whose names all make this variable ('.', '-' and '_' each become '_'), so which one is meant is unclear; set numprocesses in the file instead, or rename all but one of these watchers`
	if err == nil || err.Error() != want {
		t.Fatalf("Load: %v; want %q", err, want)
	}
	os.Unsetenv("POOLD_WATCHERS_A_B_NUMPROCESSES")
	t.Setenv("POOLD_WATCHERS_OTHER_NUMPROCESSES", "2")
	cfg, err := Load("testdata/envsame.toml")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range cfg.Watchers {
		if want := map[string]int{"other": 2}[w.Name]; w.NumProcesses != max(want, 1) {
			t.Errorf("watcher %s: numprocesses %d, want %d", w.Name, w.NumProcesses, max(want, 1))
		}
	}
}

// TestHooksEnvOverride: hooks, a table like rlimits, take a JSON object
// from an override; they used to be refused with the file's "must be a
// table" message, which no environment variable can satisfy.
func TestHooksEnvOverride(t *testing.T) {
	path := filepath.Join(t.TempDir(), "poold.toml")
	if err := os.WriteFile(path, []byte("[watchers.app]\ncmd = \"/bin/true\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("POOLD_WATCHERS_APP_HOOKS", `{"before_start": "/bin/true --check", "after_stop": "/bin/true"}`)
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"before_start": "/bin/true --check", "after_stop": "/bin/true"}
	if got := cfg.Watchers[0].Hooks; !reflect.DeepEqual(got, want) {
		t.Errorf("hooks %v, want %v", got, want)
	}
	t.Setenv("POOLD_WATCHERS_APP_HOOKS", `{"before_strat": "/bin/true"}`)
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), `watchers.app.hooks.before_strat: unknown hook "before_strat"; did you mean "before_start"?`) {
		t.Errorf("misspelled hook in the override: %v", err)
	}
	t.Setenv("POOLD_WATCHERS_APP_HOOKS", `before_start=/bin/true`)
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), `watchers.app.hooks: must be a JSON object such as {"before_start": "/usr/local/bin/check-db"}`) {
		t.Errorf("hooks override that is not JSON: %v", err)
	}
}
