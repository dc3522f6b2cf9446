package arbiter

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher"
	"github.com/poold/poold/watcher/proctest"
)

// readyOnce waits until web's worker is ready and name's status is want,
// in one Snapshot, then returns NotReady of that Snapshot.
func readyOnce(t *testing.T, h *harness, name string, want watcher.Status) []string {
	t.Helper()
	var why []string
	proctest.Eventually(t, "watcher "+name+" "+string(want)+" and web ready", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), hang)
		defer cancel()
		s, err := h.a.Snapshot(ctx)
		if err != nil {
			t.Fatalf("Snapshot: %v", err)
		}
		seen, webReady := false, false
		for _, w := range s.Watchers {
			switch w.Name {
			case name:
				seen = w.Status == want
			case "web":
				webReady = w.Status == watcher.Active && len(w.Processes) == 1 && w.Processes[0].State == watcher.ProcReady
			}
		}
		if !seen || !webReady {
			return false
		}
		why = NotReady(s)
		return true
	})
	return why
}

// notReadyOnce waits until name's status is want, then returns NotReady
// of that Snapshot.
func notReadyOnce(t *testing.T, h *harness, name string, want watcher.Status) []string {
	t.Helper()
	var why []string
	proctest.Eventually(t, "watcher "+name+" "+string(want), func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), hang)
		defer cancel()
		s, err := h.a.Snapshot(ctx)
		if err != nil {
			t.Fatalf("Snapshot: %v", err)
		}
		for _, w := range s.Watchers {
			if w.Name == name && w.Status == want {
				why = NotReady(s)
				return true
			}
		}
		return false
	})
	return why
}

// slowStopper ignores SIGTERM, so its stop lasts graceful_timeout.
func slowStopper(name string) configs.Watcher {
	w := configs.DefaultWatcher(name)
	w.Cmd, w.Args = "/bin/sh", []string{"-c", `trap "" TERM; while :; do sleep 0.05; done`}
	w.Readiness, w.ReadyDelay = "delay", 0
	w.GracefulTimeout = 3 * time.Second
	return w
}

// TestReadinessLeavesOutWatchersAtRestOnPurpose: /readyz counts what
// should run. A watcher an operator stopped (while it stops, too), a
// one-shot (respawn = false) whose worker ended, and a crash-looping side
// watcher with required_for_readiness = false leave poold ready; a
// restart, whose start follows its stop, keeps it not ready meanwhile.
func TestReadinessLeavesOutWatchersAtRestOnPurpose(t *testing.T) {
	t.Run("stopped by a command", func(t *testing.T) {
		h := start(t, &configs.Config{Watchers: []configs.Watcher{testWatcher("web", "sleep", 1), slowStopper("side")}}, Options{})
		if why := readyOnce(t, h, "side", watcher.Active); len(why) != 0 {
			t.Fatalf("not ready with every watcher up: %q", why)
		}
		h.do("stop", map[string]any{"name": "side"})
		if why := readyOnce(t, h, "side", watcher.Stopping); len(why) != 0 {
			t.Errorf("a watcher stopping on purpose counts: %q", why)
		}
		if why := readyOnce(t, h, "side", watcher.Stopped); len(why) != 0 {
			t.Errorf("a watcher stopped on purpose counts: %q", why)
		}
		h.do("start", map[string]any{"name": "side"})
		if why := readyOnce(t, h, "side", watcher.Active); len(why) != 0 {
			t.Fatalf("not ready once started again: %q", why)
		}
		h.do("restart", map[string]any{"name": "side"})
		why := readyOnce(t, h, "side", watcher.Stopping)
		if len(why) != 1 || !strings.Contains(why[0], `watcher "side" is stopping`) {
			t.Errorf("while a restart stops it: NotReady = %q, want side stopping", why)
		}
	})
	t.Run("one-shot ended", func(t *testing.T) {
		once := configs.DefaultWatcher("once")
		once.Cmd, once.Respawn = "/bin/true", false
		once.Readiness, once.ReadyDelay = "delay", 0
		h := start(t, &configs.Config{Watchers: []configs.Watcher{testWatcher("web", "sleep", 1), once}}, Options{})
		if why := readyOnce(t, h, "once", watcher.Stopped); len(why) != 0 {
			t.Errorf("a one-shot that ended as configured counts: %q", why)
		}
	})
	t.Run("stopped with the socket it alone serves", func(t *testing.T) {
		web := testWatcher("web", "sleep", 1)
		web.Sockets = []string{"web"}
		web.Readiness, web.ReadyDelay = "delay", 0 // it accepts nothing
		h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{web, testWatcher("cron", "sleep", 1)}}, Options{})
		if why := readyOnce(t, h, "cron", watcher.Active); len(why) != 0 {
			t.Fatalf("not ready with every watcher up: %q", why)
		}
		h.do("stop", map[string]any{"name": "web"})
		why := notReadyOnce(t, h, "web", watcher.Stopped)
		if len(why) != 1 || !strings.Contains(why[0], `watcher "web" is stopped on purpose, and nothing else serves its socket "web"`) {
			t.Errorf("the only pool on a socket poold keeps open stopped: NotReady = %q", why)
		}
	})
	t.Run("nothing runs", func(t *testing.T) {
		h := start(t, &configs.Config{Watchers: []configs.Watcher{testWatcher("web", "sleep", 1)}}, Options{})
		proctest.Eventually(t, "ready", func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), hang)
			defer cancel()
			s, err := h.a.Snapshot(ctx)
			return err == nil && len(NotReady(s)) == 0
		})
		h.do("stop", map[string]any{"name": "web"})
		why := notReadyOnce(t, h, "web", watcher.Stopped)
		if len(why) != 1 || !strings.Contains(why[0], "no watcher that counts for readiness runs") {
			t.Errorf("every watcher stopped: NotReady = %q", why)
		}
	})
	t.Run("one-shot failed", func(t *testing.T) {
		fail := configs.DefaultWatcher("migrate")
		fail.Cmd, fail.Args, fail.Respawn = "/bin/sh", []string{"-c", "exit 3"}, false
		fail.Readiness, fail.ReadyDelay = "delay", 0
		h := start(t, &configs.Config{Watchers: []configs.Watcher{testWatcher("web", "sleep", 1), fail}}, Options{})
		why := readyOnce(t, h, "migrate", watcher.Stopped)
		if len(why) != 1 || !strings.Contains(why[0], `watcher "migrate" failed: wid 1 exited with status 3`) {
			t.Errorf("a one-shot that exited 3: NotReady = %q", why)
		}
		h.do("set", map[string]any{"name": "migrate", "options": map[string]any{"no_respawn_exit_codes": []any{3}}})
		h.do("start", map[string]any{"name": "migrate"})
		proctest.Eventually(t, "migrate ends again, its status 3 now declared fine", func() bool {
			return len(readyOnce(t, h, "migrate", watcher.Stopped)) == 0
		})
	})
	t.Run("one-shot failed, then stopped", func(t *testing.T) {
		// A stop puts a watcher at rest on purpose: the operator has
		// seen the failure and says leave it, as start says try again.
		fail := configs.DefaultWatcher("migrate")
		fail.Cmd, fail.Args, fail.Respawn = "/bin/sh", []string{"-c", "exit 3"}, false
		fail.Readiness, fail.ReadyDelay = "delay", 0
		h := start(t, &configs.Config{Watchers: []configs.Watcher{testWatcher("web", "sleep", 1), fail}}, Options{})
		if why := readyOnce(t, h, "migrate", watcher.Stopped); len(why) != 1 {
			t.Fatalf("a one-shot that exited 3: NotReady = %q, want its failure", why)
		}
		h.do("stop", map[string]any{"name": "migrate", "waiting": true})
		if why := readyOnce(t, h, "migrate", watcher.Stopped); len(why) != 0 {
			t.Errorf("a failed one-shot stopped on purpose: NotReady = %q", why)
		}
	})
	t.Run("side watcher not required", func(t *testing.T) {
		side := testWatcher("side", "crash", 1)
		side.BackoffMin, side.BackoffMax = time.Millisecond, 2*time.Millisecond
		side.FlappingAttempts, side.FlappingRetryIn, side.FlappingMaxRetry = 2, time.Minute, -1
		h := start(t, &configs.Config{Watchers: []configs.Watcher{testWatcher("web", "sleep", 1), side}}, Options{})
		why := readyOnce(t, h, "side", watcher.Flapping)
		if len(why) != 1 || !strings.Contains(why[0], `watcher "side" is flapping`) {
			t.Fatalf("a required watcher's crash loop: NotReady = %q", why)
		}
		h.do("set", map[string]any{"name": "side", "options": map[string]any{"required_for_readiness": false}})
		if why := readyOnce(t, h, "side", watcher.Flapping); len(why) != 0 {
			t.Errorf("required_for_readiness = false: NotReady = %q", why)
		}
	})
}
