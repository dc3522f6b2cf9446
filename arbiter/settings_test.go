package arbiter

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
)

// arbiterKeys is the config key of every configs.Arbiter field.
var arbiterKeys = map[string]string{
	"Endpoint": "endpoint", "PubSubEndpoint": "pubsub_endpoint", "StatsEndpoint": "stats_endpoint",
	"StatsInterval": "stats_interval", "AllowRemote": "allow_remote", "LogLevel": "log_level",
	"LogFormat": "log_format", "MaxProcesses": "max_processes", "EventHistory": "event_history",
	"StuckAfter":   "stuck_after",
	"ControlAllow": "control_allow", "ControlReadOnly": "control_read_only",
}

// onConfigRecorder is an Options.OnConfig that records what it was given
// and reports a fixed list.
type onConfigRecorder struct {
	mu      sync.Mutex
	got     []*configs.Config
	restart []string
}

func (r *onConfigRecorder) hook(c *configs.Config) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, c)
	return r.restart
}

func (r *onConfigRecorder) last() *configs.Config {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.got) == 0 {
		return nil
	}
	return r.got[len(r.got)-1]
}

// changed returns a copy of a with field i set to a different valid value.
func changed(t *testing.T, a configs.Arbiter, i int) configs.Arbiter {
	v := reflect.ValueOf(&a).Elem().Field(i)
	name := reflect.TypeOf(a).Field(i).Name
	switch {
	case name == "LogLevel":
		v.SetString("debug")
	case name == "LogFormat":
		v.SetString("json")
	case v.Kind() == reflect.String:
		v.SetString(v.String() + "2")
	case v.Kind() == reflect.Bool:
		v.SetBool(!v.Bool())
	case v.Kind() == reflect.Int:
		v.SetInt(v.Int() + 1)
	case v.Type() == reflect.TypeOf([]string(nil)):
		v.Set(reflect.ValueOf(append(v.Interface().([]string), "uid:4242")))
	case v.Type() == reflect.TypeOf(time.Duration(0)):
		v.SetInt(v.Int() + int64(time.Second))
	default:
		t.Fatalf("field %s of kind %s: teach this test how to change it", name, v.Kind())
	}
	return a
}

// onLoop returns what fn returns, run on a's loop (which owns a.cfg).
func onLoop(t *testing.T, a *Arbiter, fn func() any) any {
	t.Helper()
	c := make(chan any, 1)
	if !a.post(funcMsg{func() { c <- fn() }}) {
		t.Fatal("arbiter loop has stopped")
	}
	select {
	case v := <-c:
		return v
	case <-time.After(hang):
		t.Fatalf("arbiter loop did not run a function within %v", hang)
		return nil
	}
}

// Every [arbiter] setting either applies on reload or reloadconfig names
// it in restart_needed (and keeps its old value); a field added to
// configs.Arbiter fails here until it is classified.
func TestReloadConfigReportsSettingsNeedingRestart(t *testing.T) {
	base := configs.DefaultArbiter()
	typ := reflect.TypeOf(base)
	for i := range typ.NumField() {
		f := typ.Field(i)
		key, ok := arbiterKeys[f.Name]
		if !ok {
			t.Fatalf("configs.Arbiter.%s has no key in arbiterKeys: add it, and make a reload apply it or report it", f.Name)
		}
		t.Run(key, func(t *testing.T) {
			next := changed(t, base, i)
			rec := &onConfigRecorder{}
			h := start(t, &configs.Config{Arbiter: base}, Options{
				Load:     func() (*configs.Config, error) { return &configs.Config{Arbiter: next}, nil },
				OnConfig: rec.hook,
			})
			r := h.do("reloadconfig", map[string]any{"waiting": true})
			restart, _ := r["restart_needed"].([]string)
			reported := slices.Contains(restart, "arbiter."+key)
			var applied bool
			switch key {
			case "stats_interval":
				applied = time.Duration(h.a.statsEvery.Load()) == next.StatsInterval
			case "max_processes":
				// Checked against a.cfg by every incr, set and add.
				applied = onLoop(t, h.a, func() any { return h.a.cfg.Arbiter.MaxProcesses }) == next.MaxProcesses
			case "event_history":
				applied = h.a.bus.HistorySize() == next.EventHistory
			case "stuck_after":
				applied = h.a.stuckBound() == next.StuckAfter
			case "control_allow", "control_read_only":
				// The controller belongs to cmd/poold: OnConfig applies it.
				applied = rec.last() != nil && reflect.DeepEqual(reflect.ValueOf(rec.last().Arbiter).Field(i).Interface(), reflect.ValueOf(next).Field(i).Interface())
			case "log_level":
				// The logger belongs to cmd/poold: OnConfig applies it.
				applied = rec.last() != nil && rec.last().Arbiter.LogLevel == next.LogLevel
			}
			if applied == reported {
				t.Fatalf("changing arbiter.%s: applied %v, restart_needed %q; want exactly one", key, applied, restart)
			}
			if len(restart) > 1 {
				t.Errorf("changing arbiter.%s alone: restart_needed %q", key, restart)
			}
			opts := h.do("globaloptions", nil)["options"].(map[string]any)
			if v, shown := opts[key]; shown && reported && fmt.Sprint(v) != fmt.Sprint(reflect.ValueOf(base).Field(i).Interface()) {
				t.Errorf("globaloptions %s = %v after a reload that needs a restart for it; want the old value", key, v)
			}
			if reported && !strings.Contains(h.log.String(), "arbiter."+key) {
				t.Errorf("the log does not name arbiter.%s as needing a restart:\n%s", key, h.log.String())
			}
		})
	}
}

// What Options.OnConfig cannot apply joins restart_needed, sorted with
// the arbiter's own, in the reply, the log and the reloadconfig event.
func TestReloadConfigMergesOnConfigRestartNeeded(t *testing.T) {
	base := configs.DefaultArbiter()
	next := base
	next.StatsEndpoint += "2"
	rec := &onConfigRecorder{restart: []string{"web.address"}}
	h := start(t, &configs.Config{Arbiter: base}, Options{
		Load:     func() (*configs.Config, error) { return &configs.Config{Arbiter: next}, nil },
		OnConfig: rec.hook,
	})
	r := h.do("reloadconfig", map[string]any{"waiting": true})
	want := []string{"arbiter.stats_endpoint", "web.address"}
	if got, _ := r["restart_needed"].([]string); !slices.Equal(got, want) {
		t.Errorf("restart_needed %q, want %q", got, want)
	}
	ev := h.next(string(events.KindReloadConfig), nil)
	if got := fmt.Sprint(ev.Fields["restart_needed"]); got != fmt.Sprint(want) {
		t.Errorf("reloadconfig event restart_needed %s, want %q", got, want)
	}
	// An upgrade in place keeps the [arbiter] ones but applies the [web]
	// ones: the log said all keep their old value until a restart.
	for _, want := range []string{
		"keep their old value until poold restarts (an upgrade in place keeps them too): restart_needed=arbiter.stats_endpoint",
		"keep their old value until poold restarts or is upgraded in place (poolctl upgrade): restart_needed=web.address",
	} {
		if !strings.Contains(h.log.String(), want) {
			t.Errorf("the log does not say %q:\n%s", want, h.log.String())
		}
	}
}

// A reloaded stats_interval takes effect on a running RunStats at once,
// not after the old interval.
func TestReloadConfigAppliesStatsInterval(t *testing.T) {
	base := configs.DefaultArbiter()
	next := base
	next.StatsInterval = 10 * time.Millisecond
	h := start(t, &configs.Config{Arbiter: base}, Options{
		Load: func() (*configs.Config, error) { return &configs.Config{Arbiter: next}, nil },
	})
	bus := events.NewBus(nil)
	sub := bus.Subscribe(16, "stat.poold.")
	defer sub.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.a.RunStats(ctx, time.Hour, bus) }()
	defer func() { cancel(); <-done }()

	h.do("reloadconfig", map[string]any{"waiting": true})
	select {
	case <-sub.C():
	case <-time.After(hang):
		t.Fatalf("no stats published within %v of stats_interval changing from 1h to 10ms", hang)
	}
}

// TestReloadReportsAppliedArbiterSettings: a reload that changed and
// applied max_processes and stats_interval answered and logged "no
// change", and said nothing of the workers already over the new
// max_processes. The reply lists them in settings (a field poold adds),
// the log gives old and new values and warns.
func TestReloadReportsAppliedArbiterSettings(t *testing.T) {
	web := testWatcher("web", "sleep", 1)
	cfg := &configs.Config{Arbiter: configs.DefaultArbiter(), Watchers: []configs.Watcher{web}}
	next := *cfg
	next.Arbiter.MaxProcesses = 2
	next.Arbiter.StatsInterval = cfg.Arbiter.StatsInterval + 4*time.Second
	next.Arbiter.LogLevel = "debug" // applied, and was not reported
	h := start(t, cfg, Options{Load: func() (*configs.Config, error) { c := next; return &c, nil }})
	h.do("incr", map[string]any{"name": "web", "nb": 2, "waiting": true})
	r := h.do("reloadconfig", map[string]any{"waiting": true})
	if got := fmt.Sprint(r["settings"]); got != "[arbiter.log_level arbiter.max_processes arbiter.stats_interval]" {
		t.Errorf("reply settings %s, want [arbiter.log_level arbiter.max_processes arbiter.stats_interval] (reply %v)", got, r)
	}
	log := h.log.String()
	want := fmt.Sprintf(`config reloaded: changes="arbiter: log_level %s -> debug, max_processes %d -> 2, stats_interval %s -> %s"`,
		cfg.Arbiter.LogLevel, cfg.Arbiter.MaxProcesses, cfg.Arbiter.StatsInterval, next.Arbiter.StatsInterval)
	if !strings.Contains(log, want) {
		t.Errorf("log does not say %s", want)
	}
	if !strings.Contains(log, "[WARN]  config reload: more workers run than the new arbiter.max_processes allows") || !strings.Contains(log, "workers=3 max_processes=2") {
		t.Errorf("log does not warn that 3 workers run over max_processes 2")
	}
}

// globaloptions shows the [arbiter] settings a reload applies at once,
// with the value in force: after `reloadconfig` lowered max_processes,
// the user can see the ceiling an incr is now checked against.
func TestGlobalOptionsShowReloadedLimits(t *testing.T) {
	base := configs.DefaultArbiter()
	next := base
	next.MaxProcesses, next.EventHistory = 4, 10
	h := start(t, &configs.Config{Arbiter: base}, Options{
		Load: func() (*configs.Config, error) { return &configs.Config{Arbiter: next}, nil },
	})
	want := func(when string, a configs.Arbiter) {
		t.Helper()
		opts := h.do("globaloptions", nil)["options"].(map[string]any)
		for key, v := range map[string]int{"max_processes": a.MaxProcesses, "event_history": a.EventHistory} {
			if got := fmt.Sprint(opts[key]); got != fmt.Sprint(v) {
				t.Errorf("%s: globaloptions %s = %s, want %d", when, key, got, v)
			}
		}
	}
	want("at start", base)
	if r := h.do("reloadconfig", map[string]any{"waiting": true}); r["status"] != "ok" {
		t.Fatalf("reloadconfig: %v", r)
	}
	want("after reloadconfig", next)
}

// TestReloadReportsChangedControlRules: a reload that gave another user
// access to the control socket (control_read_only, control_allow)
// applied it and logged "config reloaded: changes=\"no change\"", so
// an audit of the log could not tell when who got in.
func TestReloadReportsChangedControlRules(t *testing.T) {
	web := testWatcher("web", "sleep", 1)
	cfg := &configs.Config{Arbiter: configs.DefaultArbiter(), Watchers: []configs.Watcher{web}}
	next := *cfg
	next.Arbiter.ControlReadOnly = []string{"user:nobody"}
	next.Arbiter.ControlAllow = []string{"uid:0"}
	h := start(t, cfg, Options{Load: func() (*configs.Config, error) { c := next; return &c, nil }})
	r := h.do("reloadconfig", map[string]any{"waiting": true})
	if got := fmt.Sprint(r["settings"]); got != "[arbiter.control_allow arbiter.control_read_only]" {
		t.Errorf("reply settings %s, want [arbiter.control_allow arbiter.control_read_only] (reply %v)", got, r)
	}
	want := `config reloaded: changes="arbiter: control_allow [] -> [uid:0], control_read_only [] -> [user:nobody]"`
	if log := h.log.String(); !strings.Contains(log, want) {
		t.Errorf("log does not say %s:\n%s", want, log)
	}
}
