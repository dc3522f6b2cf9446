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

// A key of a group (an elastic key, a worker log key, one hook, one
// rlimit) set at run time survives a reload whose file changed another
// key of the same group; the keys the file changed take its values.
func TestMergeKeyByKey(t *testing.T) {
	was := configs.DefaultWatcher("web")
	was.Cmd = "/bin/app"
	was.Hooks = map[string]string{"before_start": "/bin/check"}
	was.Rlimits = map[string]uint64{"core": 0, "nproc": 100}
	running := was.Clone() // run-time set of one key of each group
	running.Logs.Ring = 50
	running.MaxWorkers = 9
	running.Hooks["after_spawn"] = "/bin/warm"
	running.Rlimits["nofile"] = 4096
	now := was.Clone() // the file's edit: another key of each group
	now.Logs.Keep = 3
	now.ScaleUpStep = 2
	now.Hooks = map[string]string{"before_stop": "/bin/drain"}
	now.Rlimits = map[string]uint64{"core": 10}
	got := Merge(running, was, now)
	if got.Logs.Ring != 50 || got.Logs.Keep != 3 {
		t.Errorf("log_ring %d, log_keep %d; want the run-time 50 and the file's 3", got.Logs.Ring, got.Logs.Keep)
	}
	if got.MaxWorkers != 9 || got.ScaleUpStep != 2 {
		t.Errorf("max_workers %d, scale_up_step %d; want the run-time 9 and the file's 2", got.MaxWorkers, got.ScaleUpStep)
	}
	wantHooks := map[string]string{"after_spawn": "/bin/warm", "before_stop": "/bin/drain"}
	if !reflect.DeepEqual(got.Hooks, wantHooks) {
		t.Errorf("hooks %v; want %v (the run-time hook kept, the file's removed and added)", got.Hooks, wantHooks)
	}
	wantLimits := map[string]uint64{"core": 10, "nofile": 4096}
	if !reflect.DeepEqual(got.Rlimits, wantLimits) {
		t.Errorf("rlimits %v; want %v", got.Rlimits, wantLimits)
	}
	if running.Hooks["before_stop"] != "" || running.Rlimits["core"] != 0 {
		t.Errorf("Merge changed the running spec's maps: %v %v", running.Hooks, running.Rlimits)
	}
	now.Hooks, now.Rlimits = nil, nil // the file drops every hook and limit
	got = Merge(running, was, now)
	if !reflect.DeepEqual(got.Hooks, map[string]string{"after_spawn": "/bin/warm"}) || !reflect.DeepEqual(got.Rlimits, map[string]uint64{"nofile": 4096}) {
		t.Errorf("file dropped its hooks and rlimits: hooks %v rlimits %v; want only the run-time ones", got.Hooks, got.Rlimits)
	}
	if c := Compare(Merge(running, was, was), running); c.Any() {
		t.Errorf("an unchanged file changes the running spec: %v", c.Fields)
	}
	// Emptied at run time (set rlimits '{}'), then the file drops one
	// entry: the file's other entries, gone at run time, came back.
	emptied := was.Clone()
	emptied.Rlimits = map[string]uint64{}
	now = was.Clone()
	now.Rlimits = map[string]uint64{"core": 0}
	if got := Merge(emptied, was, now); len(got.Rlimits) != 0 {
		t.Errorf("rlimits emptied at run time, the file dropping nproc: %v; want none", got.Rlimits)
	}
}
