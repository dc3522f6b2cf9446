package arbiter

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher"
	"github.com/poold/poold/watcher/proctest"
)

// A one-shot (respawn = false) whose worker ended before it counted as
// ready stops on its own. A waited start, restart, add --start or a
// reloadconfig that added it took that for a stop someone sent: "watcher
// "os" was stopped before the start finished (a stop, rm, quit ... came
// in between)", exit 1, even for a worker that exited 0, while a
// one-shot that lived a moment longer answered ok. The reply now says
// how it ended: ok (its "ended" says so) for an end the config declares
// fine, errno 6 naming the watcher, the pid, the status and where the
// output went for one that failed.

// oneShot is a respawn = false watcher running script. A quick one (ready
// after ready_delay, which it never lives to) ends before it counts as
// ready, on any machine load; a slow one counts as ready at once.
func oneShot(name, script string, quick bool) configs.Watcher {
	w := configs.DefaultWatcher(name)
	w.Cmd, w.Args, w.Respawn = "/bin/sh", []string{"-c", script}, false
	w.Readiness, w.ReadyDelay = "delay", 0
	if quick {
		w.ReadyDelay = hang / 2
	}
	w.Autostart = false
	return w
}

// waitedRun runs w with cmd and waiting, as a client would, and returns
// the reply: start, restart and add --start of a watcher, or a
// reloadconfig whose file adds it.
func waitedRun(t *testing.T, cmd string, w configs.Watcher) Reply {
	t.Helper()
	base := &configs.Config{Watchers: []configs.Watcher{testWatcher("web", "sleep", 1)}}
	switch cmd {
	case "start", "restart":
		base.Watchers = append(base.Watchers, w)
	case "reloadconfig":
		w.Autostart = true // a reload starts what it adds as configured
	}
	withIt := &configs.Config{Watchers: append([]configs.Watcher{w}, base.Watchers...)}
	h := start(t, base, Options{Load: func() (*configs.Config, error) { return withIt, nil }})
	withIt.Arbiter = base.Arbiter // start filled in the defaults
	props := map[string]any{"name": w.Name, "waiting": true}
	switch cmd {
	case "add":
		props["cmd"], props["args"], props["start"] = w.Cmd, w.Args, true
		props["options"] = map[string]any{"respawn": false, "readiness": w.Readiness, "ready_delay": w.ReadyDelay.Seconds()}
	case "reloadconfig":
		props = map[string]any{"waiting": true}
	}
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	return h.a.Do(ctx, Request{ID: "t", Command: cmd, Properties: props})
}

func TestWaitedRunOfAOneShotSaysHowItEnded(t *testing.T) {
	for _, cmd := range []string{"start", "restart", "add", "reloadconfig"} {
		t.Run(cmd+" exit 0", func(t *testing.T) {
			r := waitedRun(t, cmd, oneShot("os", "exit 0", true))
			ended, _ := r["ended"].(map[string]any)
			if r["status"] != "ok" || !strings.Contains(fmt.Sprint(ended["os"]), `watcher "os" ran and ended: wid 1 (pid `) ||
				!strings.Contains(fmt.Sprint(ended["os"]), "exited with status 0") {
				t.Errorf("%s of a one-shot that exits 0 at once: %v; want ok, with ended saying it exited 0", cmd, r)
			}
		})
		t.Run(cmd+" exit 3", func(t *testing.T) {
			r := waitedRun(t, cmd, oneShot("os", "exit 3", true))
			reason := fmt.Sprint(r["reason"])
			want := regexp.MustCompile(`watcher "os" ran and failed: wid 1 \(pid [1-9][0-9]*\) exited with status 3, and respawn is off, so it stays stopped; see its output: poolctl logs os --wid 1`)
			if r["status"] != "error" || r["errno"] != ErrnoAsync || !want.MatchString(reason) || strings.Contains(reason, "stopped before") {
				t.Errorf("%s of a one-shot that exits 3 at once: %v; want errno %d matching %s", cmd, r, ErrnoAsync, want)
			}
			// An add --start once told it twice: as a start that failed
			// and as a watcher stopped since.
			if n := strings.Count(reason, "ran and failed"); n != 1 {
				t.Errorf("%s of a one-shot that exits 3 at once: the failure told %d times, want once: %s", cmd, n, reason)
			}
		})
		t.Run(cmd+" lives a second", func(t *testing.T) {
			// A start answers at its end (since r59), not once it
			// counts as ready: ok, and ended says how. A reloadconfig
			// answers once what it added has settled.
			r := waitedRun(t, cmd, oneShot("os", "sleep 1; exit 0", false))
			ended := fmt.Sprint(r["ended"])
			if cmd == "reloadconfig" && (r["status"] != "ok" || r["ended"] != nil) {
				t.Errorf("%s of a one-shot that lives a second: %v; want ok, started", cmd, r)
			}
			if cmd != "reloadconfig" && (r["status"] != "ok" || !strings.Contains(ended, `watcher "os" ran and ended`)) {
				t.Errorf("%s of a one-shot that lives a second: %v; want ok, ended", cmd, r)
			}
		})
	}
}

// A waited start of a one-shot that a stop cuts short still says a stop
// came in between: the stop, not the worker, ended it.
func TestWaitedStartOfAOneShotCutShortByStop(t *testing.T) {
	w := oneShot("os", "sleep 30", true)
	w.GracefulTimeout = 5 * time.Second
	h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{})
	replies := doAsync(h, "start", map[string]any{"name": "os", "waiting": true})
	h.spawned()
	h.do("stop", map[string]any{"name": "os", "waiting": true})
	var r Reply
	select {
	case r = <-replies:
	case <-time.After(hang):
		t.Fatal("waited start: no reply")
	}
	if r["errno"] != ErrnoAsync || !strings.Contains(fmt.Sprint(r["reason"]), `watcher "os" was stopped before the start finished`) {
		t.Errorf("waited start of a one-shot cut short by a stop: %v; want it to say a stop came in between", r)
	}
	if st := h.do("status", map[string]any{"name": "os"}); st["status"] != string(watcher.Stopped) {
		t.Errorf("status after the stop: %v, want stopped", st)
	}
}

// A one-shot that failed showed as "stopped" in status, the console and
// poold_pool_status, as one an operator stopped or one whose work is
// done, while /readyz said it failed; the README's alert query leaves
// stopped pools out. It shows "failed" now, until a stop puts it at rest.
func TestFailedOneShotShowsFailed(t *testing.T) {
	h := start(t, &configs.Config{Watchers: []configs.Watcher{
		testWatcher("web", "sleep", 1), oneShot("bad", "exit 3", true), oneShot("good", "exit 0", true),
	}}, Options{})
	for _, name := range []string{"bad", "good"} {
		doAsync(h, "start", map[string]any{"name": name, "waiting": true})
	}
	shown := func(name string) (status, shown string) {
		ctx, cancel := context.WithTimeout(context.Background(), hang)
		defer cancel()
		s, err := h.a.Snapshot(ctx)
		if err != nil {
			t.Fatalf("Snapshot: %v", err)
		}
		for _, w := range s.Watchers {
			if w.Name == name {
				return string(w.Status), string(w.Shown)
			}
		}
		return "", ""
	}
	proctest.Eventually(t, "both one-shots ran", func() bool {
		_, bad := shown("bad")
		st, _ := shown("good")
		return bad == string(watcher.Failed) && st == string(watcher.Stopped)
	})
	if st, _ := shown("bad"); st != string(watcher.Stopped) {
		t.Errorf("a failed one-shot's Status (what start and readiness judge) is %s, want stopped", st)
	}
	if r := h.do("status", map[string]any{"name": "bad"}); r["state"] != "failed" {
		t.Errorf("status bad: %v, want failed", r)
	}
	if st, _ := h.do("status", nil)["states"].(map[string]any); st["bad"] != "failed" || st["good"] != "stopped" {
		t.Errorf("status: %v, want bad failed, good stopped", st)
	}
	h.do("stop", map[string]any{"name": "bad", "waiting": true})
	if r := h.do("status", map[string]any{"name": "bad"}); r["status"] != "stopped" {
		t.Errorf("status of a failed one-shot stopped on purpose: %v, want stopped", r)
	}
}
