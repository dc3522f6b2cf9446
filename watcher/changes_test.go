package watcher

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/poold/poold/configs"
)

// Every field of configs.Watcher must say what its change does to running
// workers; a new field fails here until it is classified.
func TestEveryWatcherFieldIsClassified(t *testing.T) {
	typ := reflect.TypeOf(configs.Watcher{})
	for i := 0; i < typ.NumField(); i++ {
		if _, ok := fieldEffects[typ.Field(i).Name]; !ok {
			t.Errorf("configs.Watcher.%s is not classified in fieldEffects (watcher/changes.go): say whether changing it restarts workers", typ.Field(i).Name)
		}
	}
	for name := range fieldEffects {
		if _, ok := typ.FieldByName(name); !ok {
			t.Errorf("fieldEffects names %s, which configs.Watcher no longer has", name)
		}
	}
}

func TestCompare(t *testing.T) {
	base := configs.DefaultWatcher("web")
	base.Cmd = "/bin/app"
	base.Env = []string{"A=1"}
	for _, tc := range []struct {
		name                   string
		edit                   func(*configs.Watcher)
		restart, scale, health bool
		fields                 string
	}{
		{"nothing", func(*configs.Watcher) {}, false, false, false, "[]"},
		{"args", func(w *configs.Watcher) { w.Args = []string{"-v"} }, true, false, false, "[Args]"},
		{"env value", func(w *configs.Watcher) { w.Env = []string{"A=2"} }, true, false, false, "[Env]"},
		{"numprocesses", func(w *configs.Watcher) { w.NumProcesses = 4 }, false, true, false, "[NumProcesses]"},
		{"graceful timeout", func(w *configs.Watcher) { w.GracefulTimeout = time.Second }, false, false, false, "[GracefulTimeout]"},
		{"health", func(w *configs.Watcher) { w.HealthInterval = time.Second }, false, false, true, "[HealthInterval]"},
		{"rlimits", func(w *configs.Watcher) { w.Rlimits = map[string]uint64{"nofile": 10} }, true, false, false, "[Rlimits]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := base
			b.Env = append([]string(nil), base.Env...)
			tc.edit(&b)
			c := Compare(base, b)
			if c.Restart != tc.restart || c.Scale != tc.scale || c.Health != tc.health || fmt.Sprint(c.Fields) != tc.fields {
				t.Errorf("Compare = %+v, want restart=%v scale=%v health=%v fields %s", c, tc.restart, tc.scale, tc.health, tc.fields)
			}
		})
	}
}

func TestMerge(t *testing.T) {
	was := configs.DefaultWatcher("web")
	was.Cmd, was.NumProcesses = "/bin/app", 2
	running := was.Clone()
	running.NumProcesses = 5 // incr at run time
	running.GracefulTimeout = 7 * time.Second
	now := was.Clone()
	now.Env = []string{"A=1"} // the file's edit
	got := Merge(running, was, now)
	if got.NumProcesses != 5 || got.GracefulTimeout != 7*time.Second || len(got.Env) != 1 || got.Cmd != "/bin/app" {
		t.Errorf("merged: numprocesses %d graceful %v env %v cmd %q; want the run-time 5 and 7s, the file's env",
			got.NumProcesses, got.GracefulTimeout, got.Env, got.Cmd)
	}
	now.NumProcesses = 3 // the file scales too: its value wins
	if got := Merge(running, was, now); got.NumProcesses != 3 {
		t.Errorf("file changed numprocesses 2 -> 3 beside a run-time 5: got %d, want 3", got.NumProcesses)
	}
	if c := Compare(Merge(running, was, was), running); c.Any() {
		t.Errorf("an unchanged file changes the running spec: %v", c.Fields)
	}
}
