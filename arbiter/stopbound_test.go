package arbiter

import (
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
)

// TestShutdownSaysHowLongItMayTake: watchers of three priorities stop
// one priority after another, so a stop of 4 s graceful_timeouts at three
// levels took 12 s, and a kubelet whose terminationGracePeriodSeconds
// covered "the largest graceful_timeout" (as the README said) SIGKILLed
// poold, and with it the watcher that stops last (a database), in the
// middle of its stop; the log ended at "stopping all watchers" and
// said nothing of the time the stop needed. The line now gives the
// bound and the watchers that make it, in stop order.
func TestShutdownSaysHowLongItMayTake(t *testing.T) {
	dir := t.TempDir()
	db := testWatcher("db", "sleep", 1)
	db.Priority = 2
	db.GracefulTimeout = 3 * time.Second
	db.HookTimeout = 4 * time.Second
	db.Hooks = map[string]string{"before_stop": hookScript(t, dir, "ok.sh", "exit 0\n")}
	app := testWatcher("app", "sleep", 2)
	app.Priority = 1
	app.GracefulTimeout = 2 * time.Second
	web := testWatcher("web", "sleep", 1)
	web.GracefulTimeout = time.Second
	idle := testWatcher("idle", "sleep", 1) // no workers: stops at once
	idle.Autostart = false
	idle.GracefulTimeout = time.Minute
	h := start(t, &configs.Config{Watchers: []configs.Watcher{db, app, web, idle}}, Options{})
	h.next(string(events.KindStart), func(ev events.Event) bool { return ev.Watcher == "web" })
	h.do("quit", map[string]any{"waiting": true})

	line := stopLine(h)
	for _, want := range []string{"up_to=10s", `slowest_in_order="web 1s, then app 2s, then db 7s"`} {
		if !strings.Contains(line, want) {
			t.Errorf("the stop's log line does not say %s, which an orchestrator's grace period must exceed:\n%s", want, line)
		}
	}
}

// The figure left out an after_stop hook of a watcher with no workers
// (numprocesses 0, an idle on-demand pool), whose stop runs it all the
// same while what it depends on waits: "up_to=1s" for a stop of 4 s
// (r49b review).
func TestShutdownCountsTheAfterStopOfAWatcherWithoutWorkers(t *testing.T) {
	dir := t.TempDir()
	db := testWatcher("db", "sleep", 1)
	db.GracefulTimeout = time.Second
	web := testWatcher("web", "sleep", 0)
	web.DependsOn = []string{"db"}
	web.HookTimeout = 3 * time.Second
	web.Hooks = map[string]string{"after_stop": hookScript(t, dir, "ok.sh", "exit 0\n")}
	h := start(t, &configs.Config{Watchers: []configs.Watcher{db, web}}, Options{})
	h.next(string(events.KindStart), func(ev events.Event) bool { return ev.Watcher == "web" })
	h.do("quit", map[string]any{"waiting": true})
	line := stopLine(h)
	for _, want := range []string{"up_to=4s", `slowest_in_order="web 3s, then db 1s"`} {
		if !strings.Contains(line, want) {
			t.Errorf("the stop's log line does not say %s:\n%s", want, line)
		}
	}
}

// stopLine is the log line of poold's stop that says how long it may take.
func stopLine(h *harness) string {
	var line string
	for _, l := range strings.Split(h.log.String(), "\n") {
		if strings.Contains(l, "stopping all watchers") {
			line = l
		}
	}
	return line
}

// A stop waits for its workers' before_reap and then after_reap hooks
// before after_stop and before the stop of what the watcher depends on,
// so the two add two hook_timeouts; the figure counted one at the end:
// "up_to=10s" for a stop that took 11.2 s, and with the default
// hook_timeout of 30 s a level under-counted by up to a minute (r59
// merge review, M1).
func TestShutdownCountsBothReapHooks(t *testing.T) {
	dir := t.TempDir()
	ok := hookScript(t, dir, "ok.sh", "exit 0\n")
	reapHooks := func(w *configs.Watcher) {
		w.GracefulTimeout = time.Second
		w.HookTimeout = 3 * time.Second
		w.Hooks = map[string]string{"before_reap": ok, "after_reap": ok}
	}
	cases := []struct {
		name string
		cfg  func() []configs.Watcher
		want []string
	}{
		{"alone", func() []configs.Watcher {
			web := testWatcher("web", "sleep", 1)
			reapHooks(&web)
			return []configs.Watcher{web}
		}, []string{"up_to=7s", `slowest_in_order="web 1s, then hooks 6s"`}},
		{"depended on", func() []configs.Watcher {
			db := testWatcher("db", "sleep", 1)
			db.GracefulTimeout = time.Second
			app := testWatcher("app", "sleep", 1)
			app.DependsOn = []string{"db"}
			reapHooks(&app)
			return []configs.Watcher{db, app}
		}, []string{"up_to=8s", `slowest_in_order="app 7s, then db 1s"`}},
		{"with after_stop", func() []configs.Watcher {
			web := testWatcher("web", "sleep", 1)
			reapHooks(&web)
			web.Hooks["after_stop"] = ok
			return []configs.Watcher{web}
		}, []string{"up_to=10s", `slowest_in_order="web 1s, then hooks 9s"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ws := c.cfg()
			h := start(t, &configs.Config{Watchers: ws}, Options{})
			last := ws[len(ws)-1].Name
			h.next(string(events.KindStart), func(ev events.Event) bool { return ev.Watcher == last })
			h.do("quit", map[string]any{"waiting": true})
			line := stopLine(h)
			for _, want := range c.want {
				if !strings.Contains(line, want) {
					t.Errorf("the stop's log line does not say %s:\n%s", want, line)
				}
			}
		})
	}
}
