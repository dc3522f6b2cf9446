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

func TestElasticKeysInEveryFormat(t *testing.T) {
	want := Scaling{MinWorkers: 2, MaxWorkers: 8, ScaleQueueTarget: 4, ScaleUpStep: 2, ScaleDownStep: 1,
		ScaleUpCooldown: 500 * time.Millisecond, ScaleDownCooldown: time.Minute}
	lazy := DefaultScaling()
	lazy.OnDemand, lazy.IdleTimeout = true, 30*time.Second
	for _, f := range []string{"elastic.toml", "elastic.yaml", "elastic.json"} {
		t.Run(f, func(t *testing.T) {
			cfg, err := Load("testdata/" + f)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]Watcher{}
			for _, w := range cfg.Watchers {
				got[w.Name] = w
			}
			if d := cmp.Diff(want, got["busy"].Scaling); d != "" {
				t.Errorf("busy (-want +got):\n%s", d)
			}
			if d := cmp.Diff(lazy, got["lazy"].Scaling); d != "" {
				t.Errorf("lazy (-want +got):\n%s", d)
			}
			if lo, hi := got["lazy"].Bounds(); lo != 0 || hi != 1 || got["lazy"].InitialSize() != 0 || got["lazy"].WakeSize() != 1 {
				t.Errorf("lazy bounds %d..%d, initial %d, wake %d; want 0..1, 0, 1", lo, hi, got["lazy"].InitialSize(), got["lazy"].WakeSize())
			}
			if got["busy"].InitialSize() != 3 || got["busy"].Capacity() != 8 {
				t.Errorf("busy initial %d capacity %d, want 3 and 8", got["busy"].InitialSize(), got["busy"].Capacity())
			}
		})
	}
}

func TestElasticBadConfig(t *testing.T) {
	_, err := Load("testdata/bad_elastic.toml")
	if err == nil {
		t.Fatal("bad_elastic.toml loaded")
	}
	for _, want := range []string{
		"watchers.nosock.on_demand: needs a socket to watch for connections, and the watcher uses none",
		"watchers.inverted.min_workers: 5 is over max_workers 2",
		"watchers.nostart.min_workers: is 0 but on_demand is false",
		"watchers.fixed.min_workers: is 2 but the pool is not elastic",
		"watchers.steps.scale_up_step: must be >= 1, got 0",
		"watchers.steps.idle_timeout: must not be negative",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

// The add and set commands validate the elastic options like a file does,
// and a refused set leaves the watcher as it was.
func TestElasticOptionErrors(t *testing.T) {
	base, err := WatcherFromOptions("web", "/bin/app", map[string]any{"sockets": []any{"web"}}, testSockets)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		opts map[string]any
		want string
	}{
		{map[string]any{"on_demand": true, "sockets": []any{}}, "on_demand: needs a socket"},
		{map[string]any{"min_workers": 4.0, "max_workers": 2.0}, "min_workers: 4 is over max_workers 2"},
		{map[string]any{"max_workers": 2000.0, "min_workers": 1.0}, "max_workers: 2000 is over max_processes 1024"},
		{map[string]any{"on_demand": true, "min_workers": 1.0}, "min_workers: is 1 but on_demand starts the pool at 0 workers"},
		{map[string]any{"scale_down_step": 0.0, "on_demand": true}, "scale_down_step: must be >= 1, got 0"},
		{map[string]any{"scale_up_max_step": 1.0, "scale_up_step": 2.0, "on_demand": true}, "scale_up_max_step: 1 is below scale_up_step 2; set it to 0"},
		{map[string]any{"scale_up_max_step": -1.0, "on_demand": true}, "scale_up_max_step: must be >= 0, got -1"},
	} {
		got, err := ApplyOptions(base, tc.opts, testSockets)
		var ce *Error
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("set %v: %v, want %q", tc.opts, err, tc.want)
		}
		if d := cmp.Diff(base, got); d != "" {
			t.Errorf("set %v changed the watcher:\n%s", tc.opts, d)
		}
	}
	if _, err := WatcherFromOptions("lazy", "/bin/app", map[string]any{"on_demand": true}, testSockets); err == nil || !strings.Contains(err.Error(), "on_demand: needs a socket") {
		t.Errorf("add with on_demand and no socket: %v", err)
	}
	w, err := WatcherFromOptions("lazy", "/bin/app", map[string]any{"on_demand": true, "sockets": []any{"web"}, "max_workers": 4.0}, testSockets)
	if err != nil || !w.Elastic() || WatcherOptions(w)["max_workers"] != 4 {
		t.Errorf("add elastic: %+v, %v", w.Scaling, err)
	}
}

// TestElasticProblemsAllAtOnce: the elastic checks stopped at a
// watcher's first problem, so max_workers = 2000 without min_workers
// said only "min_workers: is 0", and max_workers over max_processes, or
// scale_up_max_step below scale_up_step, came out one fix later. Every
// problem of the watcher is reported in one run, as the README promises.
func TestElasticProblemsAllAtOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "poold.toml")
	if err := os.WriteFile(path, []byte(`
[sockets.web]
port = 8000
[watchers.e]
cmd = "/bin/app"
sockets = ["web"]
max_workers = 2000
scale_up_step = 2
scale_up_max_step = 1
[watchers.f]
cmd = "/bin/app"
min_workers = 2
idle_timeout = "5s"
scale_busy_target = 50
`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	for _, want := range []string{
		"watchers.e.min_workers: is 0 but on_demand is false",
		"watchers.e.scale_up_max_step: 1 is below scale_up_step 2",
		"watchers.e.max_workers: 2000 is over max_processes 1024",
		"watchers.f.min_workers: is 2 but the pool is not elastic",
		"watchers.f.idle_timeout: is set but the pool is not elastic",
		"watchers.f.scale_busy_target: is set but the pool is not elastic",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}
