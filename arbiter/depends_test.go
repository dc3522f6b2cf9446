package arbiter

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher/proctest"
)

// crashingDep is a dependency whose only worker dies before it is ready,
// and which gives up (failed) after a few quick flapping pauses.
func crashingDep() configs.Watcher {
	db := testWatcher("db", "crash", 1)
	db.Readiness = "notify"
	db.BackoffMin, db.BackoffMax = time.Millisecond, 2*time.Millisecond
	db.FlappingAttempts, db.FlappingRetryIn, db.FlappingMaxRetry = 3, 50*time.Millisecond, 2
	return db
}

// TestDependentWaitsForItsDependency: depends_on is Requires= plus
// After=. A dependency whose worker dies on start had settled (its slot
// waiting in backoff), and the dependent started 30 ms after the first
// crash. The dependent now waits while the dependency retries, is not
// started once the dependency gives up, and says why in status; a waited
// start of it fails naming the dependency.
func TestDependentWaitsForItsDependency(t *testing.T) {
	app := testWatcher("app", "sleep", 1)
	app.DependsOn = []string{"db"}
	h := start(t, &configs.Config{Watchers: []configs.Watcher{crashingDep(), app}}, Options{})
	h.next(string(events.KindFailed), func(ev events.Event) bool { return ev.Watcher == "db" })
	want := `not started: it depends on watcher "db", which is failed: wid 1 failed`
	var st Reply
	proctest.Eventually(t, "app says why it was not started", func() bool {
		st = h.do("status", map[string]any{"name": "app"})
		return strings.Contains(fmt.Sprint(st["reason"]), want)
	})
	if st["status"] != "stopped" {
		t.Errorf("app's status once db failed: %v, want stopped", st)
	}
	if strings.Contains(h.log.String(), "watcher=app wid=1") || strings.Contains(h.log.String(), "watcher.app.spawn") {
		t.Errorf("app was spawned although db never had a ready worker:\n%s", h.log.String())
	}
	// A new start forgets the last one's reason while it waits.
	h.do("start", map[string]any{"name": "app"})
	if st := h.do("status", map[string]any{"name": "app"}); strings.Contains(fmt.Sprint(st["reason"]), "not started") {
		t.Errorf("app's status while a new start waits for db: %v", st)
	}
	r := h.a.Do(context.Background(), Request{ID: "s", Command: "start", Properties: map[string]any{"name": "app", "waiting": true}})
	if reason := fmt.Sprint(r["reason"]); r["errno"] != ErrnoAsync || !strings.Contains(reason, `watcher "app" was not started: it depends on watcher "db", which is failed`) {
		t.Errorf("waited start of app with db failing: %v", r)
	}
}

// TestDependentStartsOnceItsDependencyIsUp: a dependency that is ready
// lets its dependents start, in order.
func TestDependentStartsOnceItsDependencyIsUp(t *testing.T) {
	db := testWatcher("db", "sleep", 1)
	app := testWatcher("app", "sleep", 2)
	app.DependsOn = []string{"db"}
	h := start(t, &configs.Config{Watchers: []configs.Watcher{db, app}}, Options{})
	first := h.next("spawn", nil)
	if first.Watcher != "db" {
		t.Fatalf("first spawn %v, want db's", first)
	}
	spawnedReady(t, h, "app", 2)
	if st := h.do("status", map[string]any{"name": "app"}); st["status"] != "active" {
		t.Errorf("app %v", st)
	}
}

// TestRmRefusesAWatcherOthersDependOn: rm of a dependency used to leave
// its dependents with a depends_on naming nothing, after which every set
// on them failed ("unknown watcher"). rm now refuses, naming them and the
// way out; once they no longer depend on it, it goes.
func TestRmRefusesAWatcherOthersDependOn(t *testing.T) {
	db := testWatcher("db", "sleep", 1)
	app := testWatcher("app", "sleep", 1)
	app.DependsOn = []string{"DB"}
	h := start(t, &configs.Config{Watchers: []configs.Watcher{db, app}}, Options{})
	h.spawns(2)
	r := h.a.Do(context.Background(), Request{ID: "r", Command: "rm", Properties: map[string]any{"name": "db"}})
	if reason := fmt.Sprint(r["reason"]); r["errno"] != ErrnoBadProperty || !strings.Contains(reason, `watcher "app" depends on "db" through depends_on`) {
		t.Fatalf("rm of a dependency: %v", r)
	}
	if st := h.do("status", map[string]any{"name": "db"}); st["status"] != "active" {
		t.Errorf("db after a refused rm: %v", st)
	}
	h.do("set", map[string]any{"name": "app", "options": map[string]any{"depends_on": []any{}}})
	h.do("rm", map[string]any{"name": "db", "waiting": true})
	h.do("set", map[string]any{"name": "app", "options": map[string]any{"graceful_timeout": 10}})
}

// TestDependenciesOutsideTheStartAreStartedFirst: depends_on was only
// honoured between watchers started together. An autostart watcher whose
// dependency had autostart = false started alone, and so did a watcher
// added (add --start, or a config reload) next to a stopped dependency.
// They are now pulled in and started first, as systemd's Requires= does.
func TestDependenciesOutsideTheStartAreStartedFirst(t *testing.T) {
	db := testWatcher("db", "sleep", 1)
	db.Autostart = false
	app := testWatcher("app", "sleep", 1)
	app.DependsOn = []string{"db"}
	h := start(t, &configs.Config{Watchers: []configs.Watcher{db, app}}, Options{})
	if first := h.next("spawn", nil); first.Watcher != "db" {
		t.Fatalf("first spawn %v, want db's", first)
	}
	h.spawns(1)
	h.do("add", map[string]any{"name": "cache", "cmd": app.Cmd, "options": map[string]any{"env": []any{app.Env[0]}}})
	h.do("add", map[string]any{"name": "api", "cmd": app.Cmd, "start": true,
		"options": map[string]any{"env": []any{app.Env[0]}, "depends_on": []any{"cache"}}})
	if ev := h.next("spawn", nil); ev.Watcher != "cache" {
		t.Fatalf("spawn %v after add --start of api, want cache's first", ev)
	}
	if ev := h.next("spawn", nil); ev.Watcher != "api" {
		t.Fatalf("spawn %v, want api's", ev)
	}
}
