package arbiter

import (
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher"
)

// TestManualWatcherCountsOnceStarted: a watcher with autostart = false is
// at rest on purpose until something starts it; from then on it counts
// for readiness as any watcher. /readyz left it out for good: its crash
// loop kept poold ready, and so did its stop while it alone served a
// socket poold keeps open, whose connections then wait unanswered.
func TestManualWatcherCountsOnceStarted(t *testing.T) {
	t.Run("crash loop once started", func(t *testing.T) {
		side := testWatcher("side", "crash", 1)
		side.Autostart = false
		side.BackoffMin, side.BackoffMax = time.Millisecond, 2*time.Millisecond
		side.FlappingAttempts, side.FlappingRetryIn, side.FlappingMaxRetry = 2, time.Minute, -1
		h := start(t, &configs.Config{Watchers: []configs.Watcher{testWatcher("web", "sleep", 1), side}}, Options{})
		if why := readyOnce(t, h, "side", watcher.Stopped); len(why) != 0 {
			t.Fatalf("a watcher never started (autostart = false): NotReady = %q", why)
		}
		h.do("start", map[string]any{"name": "side"})
		why := readyOnce(t, h, "side", watcher.Flapping)
		if len(why) != 1 || !strings.Contains(why[0], `watcher "side" is flapping`) {
			t.Errorf("a started autostart = false watcher's crash loop: NotReady = %q", why)
		}
	})
	t.Run("stopped again with the socket it alone serves", func(t *testing.T) {
		lazy := testWatcher("lazy", "sleep", 1)
		lazy.Autostart, lazy.Sockets = false, []string{"lazy"}
		lazy.Readiness, lazy.ReadyDelay = "delay", 0 // it accepts nothing
		h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("lazy")},
			Watchers: []configs.Watcher{testWatcher("web", "sleep", 1), lazy}}, Options{})
		if why := readyOnce(t, h, "lazy", watcher.Stopped); len(why) != 0 {
			t.Fatalf("a watcher never started (autostart = false) on its own socket: NotReady = %q", why)
		}
		h.do("start", map[string]any{"name": "lazy", "waiting": true})
		if why := readyOnce(t, h, "lazy", watcher.Active); len(why) != 0 {
			t.Fatalf("started: NotReady = %q", why)
		}
		h.do("stop", map[string]any{"name": "lazy", "waiting": true})
		why := readyOnce(t, h, "lazy", watcher.Stopped)
		if len(why) != 1 || !strings.Contains(why[0], `watcher "lazy" is stopped on purpose, and nothing else serves its socket "lazy"`) {
			t.Errorf("the only pool on a socket stopped after it ran: NotReady = %q", why)
		}
	})
}
