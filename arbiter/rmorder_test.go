package arbiter

import (
	"strings"
	"testing"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher/proctest"
)

// TestRemoveComesFirst: rm publishes remove before it stops the watcher,
// then the kills and reaps, and stop last, as circusd does (remove,
// kill, kill, reap, reap, stop); poold used to publish remove last.
//
// The workers' graceful_timeout is the hang bound, not testWatcher's 5 s:
// the test is about the order, and in whole-package runs on a loaded host
// the workers' ends reached poold more than 5 s after their SIGTERM (they
// exited 0 on it), so each got a SIGKILL too ("remove kill kill kill kill
// reap reap stop").
func TestRemoveComesFirst(t *testing.T) {
	w := testWatcher("web", "sleep", 2)
	w.GracefulTimeout = hang
	h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{})
	readyPids(t, h, "web", 2)
	h.do("rm", map[string]any{"name": "web", "waiting": true})
	var kinds []string
	for {
		ev := h.next("", func(ev events.Event) bool { return ev.Watcher == "web" })
		switch ev.Kind {
		case events.KindRemove, events.KindKill, events.KindReap, events.KindStop:
			kinds = append(kinds, string(ev.Kind))
		}
		if ev.Kind == events.KindStop {
			break
		}
	}
	if got := strings.Join(kinds, " "); got != "remove kill kill reap reap stop" {
		t.Errorf("rm published %q, want circusd's \"remove kill kill reap reap stop\"", got)
	}
	// Nor is the removed watcher left in status's log counters.
	proctest.Eventually(t, "web gone", func() bool { return h.do("numwatchers", nil)["numwatchers"] == 0 })
	if logs, _ := h.do("status", nil)["logs"].(map[string]any); logs["web"] != nil {
		t.Errorf("status after rm still lists web's log counters: %v", logs)
	}
}
