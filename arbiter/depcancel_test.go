package arbiter

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher/proctest"
)

// A start waiting for a dependency used to be a closure that looked
// again every 50 ms and then started the watcher, whatever had happened
// meanwhile: `stop app` answered ok, and app started anyway once db was
// up; after `rm app` the forgotten watcher spawned a worker nobody owned,
// which then held quit forever. A stop, restart or rm now cancels the
// waiting start, as a stop cancels systemd's queued start job, and a
// waited start says it was canceled.

// readyGate is a readiness URL that answers 503 until it is opened: a
// dependency that stays starting until the test says so.
type readyGate struct {
	open atomic.Bool
	srv  *httptest.Server
}

func newReadyGate(t testing.TB) *readyGate {
	g := &readyGate{}
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !g.open.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(g.srv.Close)
	return g
}

// gatedPair is db, ready once g opens, and app, which depends on it;
// neither starts with poold.
func gatedPair(g *readyGate) (db, app configs.Watcher) {
	db = testWatcher("db", "sleep", 1)
	db.Autostart = false
	db.Readiness = "http"
	db.ReadyURL = g.srv.URL + "/ready"
	db.ReadyTimeout = time.Hour
	app = testWatcher("app", "sleep", 1)
	app.Autostart = false
	app.DependsOn = []string{"db"}
	return db, app
}

// waitedStartOfApp sends a waited start of app and returns once db's
// worker is spawned: app's start waits for db from then on.
func waitedStartOfApp(h *harness) <-chan Reply {
	h.t.Helper()
	replies := doAsync(h, "start", map[string]any{"name": "app", "waiting": true})
	h.next("spawn", func(ev events.Event) bool { return ev.Watcher == "db" })
	return replies
}

// appWaitingForDB runs poold with db and app (gatedPair) and a waited
// start of app waiting for db.
func appWaitingForDB(t *testing.T) (*harness, *readyGate, <-chan Reply) {
	t.Helper()
	g := newReadyGate(t)
	db, app := gatedPair(g)
	h := start(t, &configs.Config{Watchers: []configs.Watcher{db, app}}, Options{})
	return h, g, waitedStartOfApp(h)
}

// dbComesUp opens g and waits for db's ready event: a start still
// waiting for db would have started app in that same turn of the loop.
func dbComesUp(h *harness, g *readyGate) {
	h.t.Helper()
	g.open.Store(true)
	h.next("ready", func(ev events.Event) bool { return ev.Watcher == "db" })
}

// noSpawnOf fails the test if name spawned a worker up to now: the
// status command is a barrier (events are published on the loop, before
// it answers).
func noSpawnOf(h *harness, name string) {
	h.t.Helper()
	h.do("status", nil)
	for {
		select {
		case ev := <-h.sub.C():
			if ev.Kind == "spawn" && ev.Watcher == name {
				h.t.Errorf("watcher %q spawned pid %v after its start was canceled", name, ev.Fields["process_pid"])
			}
		default:
			return
		}
	}
}

// replyOf waits for the reply of the waited start.
func replyOf(t *testing.T, replies <-chan Reply) Reply {
	t.Helper()
	select {
	case r := <-replies:
		return r
	case <-time.After(hang):
		t.Fatalf("no reply to the waited start within %v", hang)
		return nil
	}
}

// wantCanceled checks the reply of a waited start of app that was
// canceled.
func wantCanceled(t *testing.T, replies <-chan Reply) {
	t.Helper()
	r := replyOf(t, replies)
	reason := fmt.Sprint(r["reason"])
	if r["errno"] != ErrnoAsync || !strings.Contains(reason, `watcher "app" was stopped before the start finished`) || !strings.Contains(reason, "canceled") {
		t.Errorf("waited start of app, canceled while it waited for db: %v; want errno %d saying it was canceled", r, ErrnoAsync)
	}
}

func TestStopCancelsAStartWaitingForItsDependency(t *testing.T) {
	h, g, replies := appWaitingForDB(t)
	h.do("stop", map[string]any{"name": "app", "waiting": true})
	// The reply comes at the stop, not once db is up.
	wantCanceled(t, replies)
	// Nor does a later start of something else bring it back.
	h.do("start", map[string]any{"name": "db"})
	dbComesUp(h, g)
	if st := h.do("status", map[string]any{"name": "app"}); st["status"] != "stopped" {
		t.Errorf("app after stop app, then db up: %v, want stopped", st)
	}
	noSpawnOf(h, "app")
	// A new start is a new job: it runs.
	h.do("start", map[string]any{"name": "app", "waiting": true})
}

func TestRmCancelsAStartWaitingForItsDependency(t *testing.T) {
	h, g, replies := appWaitingForDB(t)
	h.do("rm", map[string]any{"name": "app", "waiting": true})
	wantCanceled(t, replies)
	dbComesUp(h, g)
	noSpawnOf(h, "app")
	if n := h.do("numprocesses", nil)["numprocesses"]; n != 1 {
		t.Errorf("%v workers, want db's 1", n)
	}
}

// stop db stops what depends on it first: app's waiting start is
// canceled, and a later start of db alone does not bring app along.
func TestStopOfTheDependencyCancelsTheWaitingStart(t *testing.T) {
	h, g, replies := appWaitingForDB(t)
	h.do("stop", map[string]any{"name": "db", "waiting": true})
	wantCanceled(t, replies)
	h.do("start", map[string]any{"name": "db"})
	dbComesUp(h, g)
	noSpawnOf(h, "app")
}

// A config reload that removes app while its start waits: the start must
// not run a watcher that is gone.
func TestReloadRemovingAWaitingDependentCancelsItsStart(t *testing.T) {
	g := newReadyGate(t)
	db, app := gatedPair(g)
	cfg := &configs.Config{Watchers: []configs.Watcher{db, app}}
	next := &configs.Config{Watchers: []configs.Watcher{db}}
	h := start(t, cfg, Options{Load: func() (*configs.Config, error) { c := *next; c.Arbiter = cfg.Arbiter; return &c, nil }})
	replies := waitedStartOfApp(h)
	h.do("reloadconfig", map[string]any{"waiting": true})
	// The reply comes at the reload, not once db is up: it used to wait
	// for db to settle, which a db that never gets ready never does.
	wantCanceled(t, replies)
	dbComesUp(h, g)
	noSpawnOf(h, "app")
}

// A config reload that gives app another dependency while its start
// waits: the start follows app's depends_on as it is when it runs, and
// does not start app without the new dependency.
func TestReloadChangingDependsOnOfAWaitingDependent(t *testing.T) {
	g := newReadyGate(t)
	db, app := gatedPair(g)
	cache := testWatcher("cache", "sleep", 1)
	cache.Autostart = false
	cfg := &configs.Config{Watchers: []configs.Watcher{db, app, cache}}
	app2 := app
	app2.DependsOn = []string{"db", "cache"}
	next := &configs.Config{Watchers: []configs.Watcher{db, app2, cache}}
	h := start(t, cfg, Options{Load: func() (*configs.Config, error) { c := *next; c.Arbiter = cfg.Arbiter; return &c, nil }})
	replies := waitedStartOfApp(h)
	h.do("reloadconfig", map[string]any{"waiting": true})
	dbComesUp(h, g)
	noSpawnOf(h, "app")
	r := replyOf(t, replies)
	if reason := fmt.Sprint(r["reason"]); r["errno"] != ErrnoAsync || !strings.Contains(reason, `watcher "app" was not started: it depends on watcher "cache", which is stopped`) {
		t.Errorf("waited start of app whose reloaded depends_on names a stopped watcher: %v", r)
	}
}

// A watcher whose start waits for a dependency said only "stopped", and
// /readyz `watcher "app" is stopped`. Its status now says what it waits
// for (the status word stays stopped: it has no worker yet).
func TestWaitingDependentSaysWhatItWaitsFor(t *testing.T) {
	h, g, replies := appWaitingForDB(t)
	want := `waiting to start: it depends on watcher "db", which is starting`
	st := h.do("status", map[string]any{"name": "app"})
	if st["status"] != "stopped" || !strings.Contains(fmt.Sprint(st["reason"]), want) {
		t.Errorf("status of app waiting for db: %v; want stopped with reason %q", st, want)
	}
	all := h.do("status", nil)
	if why := all["reasons"].(map[string]any)["app"]; !strings.Contains(fmt.Sprint(why), want) {
		t.Errorf("status without a name: reasons %v", all["reasons"])
	}
	s, err := h.a.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range s.Watchers {
		if w.Name == "app" && !strings.Contains(w.Reason, want) {
			t.Errorf("snapshot (console, /readyz) of app: reason %q", w.Reason)
		}
	}
	dbComesUp(h, g)
	if r := replyOf(t, replies); r["status"] != "ok" {
		t.Errorf("waited start once db is up: %v", r)
	}
	if st := h.do("status", map[string]any{"name": "app"}); st["reason"] != nil {
		t.Errorf("app once started still gives a reason: %v", st)
	}
}

// A watcher whose turn has not come (a higher priority starts first)
// says so too.
func TestWatcherWaitingForItsTurnSaysSo(t *testing.T) {
	g := newReadyGate(t)
	db, _ := gatedPair(g)
	db.Autostart, db.Priority = true, 10
	web := testWatcher("web", "sleep", 1)
	h := start(t, &configs.Config{Watchers: []configs.Watcher{db, web}}, Options{})
	h.next("spawn", func(ev events.Event) bool { return ev.Watcher == "db" })
	want := `waiting to start: it starts after watcher "db", which is starting`
	if st := h.do("status", map[string]any{"name": "web"}); st["status"] != "stopped" || st["reason"] != want {
		t.Errorf("status of web while db, of a higher priority, starts: %v; want stopped with reason %q", st, want)
	}
	dbComesUp(h, g)
	h.next("spawn", func(ev events.Event) bool { return ev.Watcher == "web" })
}

// A restart of db while app's start waits for it: app keeps waiting and
// starts once db is up again. It was given up ("it depends on watcher
// "db", which is stopping") and stayed stopped, and a lower priority
// started meanwhile, as if db's band were done.
func TestRestartOfTheDependencyKeepsTheWaitingStart(t *testing.T) {
	g := newReadyGate(t)
	db, app := gatedPair(g)
	// db takes a second to stop (its worker ignores the stop signal until
	// the SIGKILL): app's start looks at db many times meanwhile.
	db.StopSignal, db.GracefulTimeout = syscall.SIGWINCH, time.Second
	h := start(t, &configs.Config{Watchers: []configs.Watcher{db, app}}, Options{})
	replies := waitedStartOfApp(h)
	h.do("restart", map[string]any{"name": "db"})
	h.next("spawn", func(ev events.Event) bool { return ev.Watcher == "db" })
	want := `waiting to start: it depends on watcher "db"`
	if st := h.do("status", map[string]any{"name": "app"}); st["status"] != "stopped" || !strings.Contains(fmt.Sprint(st["reason"]), want) {
		t.Errorf("app after a restart of db it waits for: %v; want stopped with reason %q", st, want)
	}
	dbComesUp(h, g)
	if r := replyOf(t, replies); r["status"] != "ok" {
		t.Errorf("waited start of app across a restart of db: %v", r)
	}
	if st := h.do("status", map[string]any{"name": "app"}); st["status"] != "active" {
		t.Errorf("app once db is up again: %v, want active", st)
	}
}

// A waited start of api whose dependency db was not started (its
// before_start hook failed) fails at once, naming the hook, even while
// another start that lists db (poold's own, held by a band that never
// gets ready) waits: it hung until that start ended (r48b review).
func TestWaitedStartFailsWhenItsDependencyWasNotStarted(t *testing.T) {
	g := newReadyGate(t) // never opens
	slow, _ := gatedPair(g)
	slow.Name, slow.Autostart, slow.Priority = "slow", true, 10
	x := testWatcher("x", "sleep", 1)
	x.Priority, x.DependsOn = 10, []string{"slow"}
	db := testWatcher("db", "sleep", 1)
	db.Hooks = map[string]string{"before_start": "/bin/false"}
	api := testWatcher("api", "sleep", 1)
	api.Autostart, api.DependsOn = false, []string{"db"}
	h := start(t, &configs.Config{Watchers: []configs.Watcher{slow, x, db, api}}, Options{})
	h.next("spawn", func(ev events.Event) bool { return ev.Watcher == "slow" })
	r := replyOf(t, doAsync(h, "start", map[string]any{"name": "api", "waiting": true}))
	if reason := fmt.Sprint(r["reason"]); r["errno"] != ErrnoAsync || !strings.Contains(reason, "before_start hook failed") {
		t.Errorf("waited start of api whose db's before_start fails: %v; want it to fail naming the hook", r)
	} else if n := strings.Count(reason, "before_start hook failed"); n != 1 {
		// db's own line repeated what api's quotes (left from r48).
		t.Errorf("reason %q: says the hook failed %d times, want once", reason, n)
	}
}

// A stop of db during a restart of db wins: db and what depends on it
// stay stopped. The restart started them again once its stop phase was
// over (r48b review).
func TestStopDuringARestartWins(t *testing.T) {
	db := testWatcher("db", "sleep", 1)
	db.StopSignal, db.GracefulTimeout = syscall.SIGWINCH, time.Second // a slow stop
	api := testWatcher("api", "sleep", 1)
	api.DependsOn = []string{"db"}
	h := start(t, &configs.Config{Watchers: []configs.Watcher{db, api}}, Options{})
	spawnedReady(t, h, "db", 1)
	spawnedReady(t, h, "api", 1)
	restarted := doAsync(h, "restart", map[string]any{"name": "db", "waiting": true})
	// The restart first: db stopping (a second, as it ignores the signal).
	proctest.Eventually(t, "the restart to stop db", func() bool {
		return h.do("status", map[string]any{"name": "db"})["status"] == "stopping"
	})
	h.do("stop", map[string]any{"name": "db", "waiting": true})
	r := replyOf(t, restarted)
	if reason := fmt.Sprint(r["reason"]); r["errno"] != ErrnoAsync || !strings.Contains(reason, "canceled") {
		t.Errorf("waited restart of db that a stop of db overtook: %v; want it to fail saying it was canceled", r)
	}
	for _, name := range []string{"db", "api"} {
		if st := h.do("status", map[string]any{"name": name}); st["status"] != "stopped" {
			t.Errorf("%s after restart db, then stop db: %v, want stopped", name, st["status"])
		}
		noSpawnOf(h, name)
	}
}
