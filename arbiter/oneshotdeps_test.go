package arbiter

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/proctest"
)

// migrateThenServe is the usual one-shot dependency: app depends_on mig,
// a one-shot (respawn = false) running script, both started at boot.
func migrateThenServe(script string) []configs.Watcher {
	mig := oneShot("mig", script, true)
	mig.Autostart = true
	app := testWatcher("app", "sleep", 1)
	app.DependsOn = []string{"mig"}
	return []configs.Watcher{mig, app}
}

// A watcher that depends_on a one-shot that exited 0 was never started,
// at boot or by `start app` ("mig, which is stopped: wid 1 exited with
// status 0 ...; fix the cause"). A one-shot that ended as configured
// satisfies the dependency now, as systemd's Type=oneshot unit does.
func TestDependencyOnAOneShotThatEndedWell(t *testing.T) {
	h := start(t, &configs.Config{Watchers: migrateThenServe("exit 0")}, Options{})
	proctest.Eventually(t, "app started once mig ended with status 0", func() bool {
		return h.do("status", map[string]any{"name": "app"})["status"] == "active"
	})
	h.do("stop", map[string]any{"name": "app", "waiting": true})
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	r := h.a.Do(ctx, Request{ID: "s", Command: "start", Properties: map[string]any{"name": "app", "waiting": true}})
	if r["status"] != "ok" {
		t.Errorf("waited start of app after mig ended with status 0: %v, want ok", r)
	}
}

// One that failed does not satisfy it: app is not started, and its
// reason names mig, how it ended and what to do.
func TestDependencyOnAOneShotThatFailed(t *testing.T) {
	h := start(t, &configs.Config{Watchers: migrateThenServe("exit 3")}, Options{})
	var reason string
	proctest.Eventually(t, "app says why it was not started", func() bool {
		reason = fmt.Sprint(h.do("status", map[string]any{"name": "app"})["reason"])
		return strings.Contains(reason, "not started")
	})
	for _, want := range []string{`watcher "mig", a one-shot that ran and failed: wid 1 exited with status 3`,
		"poolctl logs mig --wid 1", "runs it again first", "fix the cause, then run `start app`"} {
		if !strings.Contains(reason, want) {
			t.Errorf("app's reason with mig failed: %q; want it to say %q", reason, want)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	r := h.a.Do(ctx, Request{ID: "s", Command: "start", Properties: map[string]any{"name": "app", "waiting": true}})
	if r["errno"] != ErrnoAsync || !strings.Contains(fmt.Sprint(r["reason"]), `it depends on watcher "mig", a one-shot that ran and failed`) {
		t.Errorf("waited start of app with mig failing: %v", r)
	}
	// The start ran mig again; its failure is told once, in app's reason.
	if n := strings.Count(fmt.Sprint(r["reason"]), "exited with status 3"); n != 1 {
		t.Errorf("waited start of app tells mig's failure %d times, want once: %v", n, r["reason"])
	}
}

// A stopped one-shot's size row said nothing of its live workers, so
// poolctl showed its numprocesses under WORKERS as if they ran (the soak
// trial): every row carries running.
func TestSizeRowCountsRunningWorkers(t *testing.T) {
	mig := oneShot("mig", "exit 0", false)
	mig.NumProcesses = 2
	app := testWatcher("app", "sleep", 3)
	h := start(t, &configs.Config{Watchers: []configs.Watcher{mig, app}}, Options{})
	h.do("start", map[string]any{"name": "mig", "waiting": true})
	proctest.Eventually(t, "app runs 3 workers", func() bool { return h.size("app")["running"] == 3 })
	proctest.Eventually(t, "mig ran out", func() bool {
		return h.do("status", map[string]any{"name": "mig"})["status"] == "stopped"
	})
	if sz := h.size("mig"); sz["running"] != 0 || sz["current"] != 2 {
		t.Errorf("size of a one-shot that ended: %v, want running 0 of current 2", sz)
	}
}
