package arbiter

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher/proctest"
)

// migrateSlowly is app depends_on mig, a one-shot that counts as ready at
// once (readiness spawn's moment, or a delay shorter than its run) and
// runs script, both started at boot.
func migrateSlowly(script string) []configs.Watcher {
	mig := oneShot("mig", script, false)
	mig.Autostart = true
	app := testWatcher("app", "sleep", 1)
	app.DependsOn = []string{"mig"}
	return []configs.Watcher{mig, app}
}

// A one-shot dependency counted as up once its worker was ready (100 ms
// into its run by default), so the app started beside a migration still
// running, and kept running when it failed (r59b review). As systemd's
// Type=oneshot, a one-shot satisfies depends_on once it has ended well:
// the app's worker spawns after the migration's exit.
func TestOneShotDependencyIsUpAtItsEnd(t *testing.T) {
	h := start(t, &configs.Config{Watchers: migrateSlowly("sleep 1; exit 0")}, Options{})
	// While it runs, the app's reason says what it waits for, and how
	// to have a program that keeps running not hold it (rvmerge2: it
	// said "which is active", as of a dependency that is up).
	want := `watcher "mig", a one-shot (respawn = false) still running: this starts once it has ended as configured (give "mig" respawn = true`
	proctest.Eventually(t, "app's reason to name the one-shot it waits for", func() bool {
		return strings.Contains(fmt.Sprint(h.do("status", map[string]any{"name": "app"})["reason"]), want)
	})
	migEnded := false
	h.next("", func(ev events.Event) bool {
		switch {
		case ev.Watcher == "mig" && ev.Kind == events.KindExit:
			migEnded = true
		case ev.Watcher == "app" && ev.Kind == events.KindSpawn:
			if !migEnded {
				t.Fatalf("app spawned (pid %v) while its one-shot dependency mig still ran", ev.Fields["process_pid"])
			}
			return true
		}
		return false
	})
}

// One that fails after it was ready keeps the app unstarted, saying why.
func TestOneShotDependencyFailingLateKeepsItsDependantStopped(t *testing.T) {
	h := start(t, &configs.Config{Watchers: migrateSlowly("sleep 1; exit 4")}, Options{})
	var reason string
	proctest.Eventually(t, "app says why it was not started", func() bool {
		reason = fmt.Sprint(h.do("status", map[string]any{"name": "app"})["reason"])
		return strings.Contains(reason, "not started")
	})
	if !strings.Contains(reason, `watcher "mig", a one-shot that ran and failed: wid 1 exited with status 4`) {
		t.Errorf("app's reason: %q, want it to name mig's failure", reason)
	}
	if pids := h.do("list", map[string]any{"name": "app"})["pids"].([]int); len(pids) != 0 {
		t.Errorf("app runs pids %v with its dependency failed", pids)
	}
}

// A waited start of a one-shot answered once it counted as ready, so a
// wrapper (cron, a deploy script) got 0 for a job that failed a moment
// later. It answers at its end now, with how it ended.
func TestWaitedStartOfAOneShotAnswersItsEnd(t *testing.T) {
	for _, c := range []struct {
		script string
		ok     bool
	}{{"sleep 0.5; exit 0", true}, {"sleep 0.5; exit 4", false}} {
		t.Run(c.script, func(t *testing.T) {
			w := oneShot("job", c.script, false)
			h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{})
			ctx, cancel := context.WithTimeout(context.Background(), hang)
			defer cancel()
			r := h.a.Do(ctx, Request{ID: "s", Command: "start", Properties: map[string]any{"name": "job", "waiting": true}})
			switch {
			case c.ok && (r["status"] != "ok" || !strings.Contains(fmt.Sprint(r["ended"]), "exited with status 0")):
				t.Errorf("waited start of a one-shot that exits 0: %v, want ok with ended", r)
			case !c.ok && (r["errno"] != ErrnoAsync || !strings.Contains(fmt.Sprint(r["reason"]), "exited with status 4")):
				t.Errorf("waited start of a one-shot that exits 4: %v, want errno %d saying status 4", r, ErrnoAsync)
			}
		})
	}
}
