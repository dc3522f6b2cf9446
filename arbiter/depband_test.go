package arbiter

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher/proctest"
)

// TestSlowDependencyHoldsOnlyWhatNeedsIt: a start in order waited, level
// by level, for every dependency of the level to be up, so a database
// that never became ready (readiness failing, flapping_max_retry = -1)
// kept every other watcher of the same priority from starting: web,
// which needs only cache, and jobs, which needs web, stayed "waiting to
// start" for as long as db retried, at boot and after a reload. A watcher
// now waits for its own dependencies only: web and jobs start while db is
// still starting; api, which needs db, starts once db is up.
func TestSlowDependencyHoldsOnlyWhatNeedsIt(t *testing.T) {
	g := newReadyGate(t)
	db, api := gatedPair(g)
	db.Autostart, api.Autostart = true, true
	api.Name = "api"
	cache := testWatcher("cache", "sleep", 1)
	web := testWatcher("web", "sleep", 1)
	web.DependsOn = []string{"cache"}
	jobs := testWatcher("jobs", "sleep", 1)
	jobs.DependsOn = []string{"web"}
	h := start(t, &configs.Config{Watchers: []configs.Watcher{db, api, cache, web, jobs}}, Options{})
	var order []string
	for len(order) < 4 {
		ev := h.next(string(events.KindSpawn), nil)
		order = append(order, ev.Watcher)
		if ev.Watcher == "api" {
			t.Fatalf("api spawned before db was ready (spawns so far: %v)", order)
		}
	}
	// db and cache start first, in either order; then web, then jobs.
	if order[2] != "web" || order[3] != "jobs" {
		t.Errorf("spawns while db is not ready: %v, want db and cache, then web, then jobs", order)
	}
	if st := h.do("status", map[string]any{"name": "db"}); st["status"] != "starting" {
		t.Errorf("db should still be starting (its readiness gate is closed): %v", st)
	}
	noSpawnOf(h, "api")
	dbComesUp(h, g)
	h.next(string(events.KindSpawn), func(ev events.Event) bool { return ev.Watcher == "api" })
}

// A watcher of a lower priority waiting for its turn named every watcher
// the band before had started, "which is active" for all but the one it
// waited for: with 27 of them the one that mattered was lost in the list.
// It now names those that have yet to settle.
func TestTurnReasonNamesOnlyWhatIsNotSettled(t *testing.T) {
	g := newReadyGate(t)
	db, _ := gatedPair(g)
	db.Autostart, db.Priority = true, 10
	cache := testWatcher("cache", "sleep", 1)
	cache.Priority = 10
	web := testWatcher("web", "sleep", 1)
	h := start(t, &configs.Config{Watchers: []configs.Watcher{db, cache, web}}, Options{})
	spawnedReady(t, h, "cache", 1)
	want := `waiting to start: it starts after watcher "db", which is starting`
	if st := h.do("status", map[string]any{"name": "web"}); st["status"] != "stopped" || st["reason"] != want {
		t.Errorf("status of web while db (priority 10) starts and cache (priority 10) is active: %v; want stopped with reason %q", st, want)
	}
	dbComesUp(h, g)
	h.next("spawn", func(ev events.Event) bool { return ev.Watcher == "web" })
}

// A restart of a dependency stops what depends on it first: a dependant
// whose before_start hook ran had it killed, and the log said only "hook
// killed: the watcher stops without waiting for it", not why it stopped
// (a hook that restarted the dependency looped so, unexplained). The log
// now names the dependant and the dependency.
func TestStopOfADependencyLogsTheDependantsItStops(t *testing.T) {
	base := testWatcher("base", "sleep", 1)
	app := testWatcher("app", "sleep", 1)
	app.DependsOn = []string{"base"}
	h := start(t, &configs.Config{Watchers: []configs.Watcher{base, app}}, Options{})
	spawnedReady(t, h, "app", 1)
	if r := h.do("restart", map[string]any{"name": "base", "waiting": true}); r["status"] != "ok" {
		t.Fatalf("restart base: %v", r)
	}
	want := "stopping it first: it depends on a watcher being stopped (restart): watcher=app depends_on=base"
	if !strings.Contains(h.log.String(), want) {
		t.Errorf("log lacks %q:\n%s", want, h.log.String())
	}
}

// A dependency added while a start waits (set depends_on, or a reload)
// on a watcher the same start holds in a later band hung the start for
// good: the waiting watcher's band could not end, and the later band
// never started (r47c review). Such a dependency joins the band that
// waits for it, as it would have had the change come first.
func TestDependencyAddedDuringAStartOnALaterBand(t *testing.T) {
	g := newReadyGate(t)
	db, api := gatedPair(g)
	db.Autostart, api.Autostart = true, true
	api.Name = "api"
	cron := testWatcher("cron", "sleep", 1)
	cron.Priority = -5
	h := start(t, &configs.Config{Watchers: []configs.Watcher{db, api, cron}}, Options{})
	h.next(string(events.KindSpawn), func(ev events.Event) bool { return ev.Watcher == "db" })
	if r := h.do("set", map[string]any{"name": "api", "options": map[string]any{"depends_on": []any{"db", "cron"}}}); r["status"] != "ok" {
		t.Fatalf("set api depends_on: %v", r)
	}
	// cron joins api's band and starts at once; api once db is up too.
	h.next(string(events.KindSpawn), func(ev events.Event) bool { return ev.Watcher == "cron" })
	dbComesUp(h, g)
	h.next(string(events.KindSpawn), func(ev events.Event) bool { return ev.Watcher == "api" })
}

// A watcher of a lower priority waiting while the band before it waits
// for a crash-looping dependency said only "watchers of the same start
// wait for their dependencies", naming neither (r47c order review). It
// names the watcher that waits and on what.
func TestTurnReasonNamesWhatTheBandWaitsFor(t *testing.T) {
	db := testWatcher("db", "crash", 1)
	db.FlappingAttempts, db.FlappingRetryIn, db.FlappingWindow = 2, time.Hour, time.Hour
	db.BackoffMin = 10 * time.Millisecond
	// Never ready: under load a crashing worker counted ready under
	// readiness spawn before it died, and api started (1 run in 6).
	g := newReadyGate(t)
	db.Readiness, db.ReadyURL, db.ReadyTimeout = "http", g.srv.URL+"/ready", time.Hour
	api := testWatcher("api", "sleep", 1)
	api.DependsOn = []string{"db"}
	cron := testWatcher("cron", "sleep", 1)
	cron.Priority = -5
	h := start(t, &configs.Config{Watchers: []configs.Watcher{db, api, cron}}, Options{})
	h.next(string(events.KindFlapping), func(ev events.Event) bool { return ev.Watcher == "db" })
	want := `it starts after watcher "api", which waits for watcher "db", which is flapping`
	var reason string
	if !proctest.Poll(hang, func() bool {
		reason = fmt.Sprint(h.do("status", map[string]any{"name": "cron"})["reason"])
		return strings.Contains(reason, want)
	}) {
		t.Fatalf("cron's reason %q, want it to contain %q", reason, want)
	}
}
