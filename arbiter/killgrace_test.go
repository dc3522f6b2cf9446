package arbiter

import (
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher/proctest"
)

// TestStopDoesNotWaitForAKillsLongerGrace: after `kill PID
// --graceful_timeout 86400` of a worker that ignores SIGTERM, a stop (and
// quit, and SIGTERM) waited out the kill's day: the worker was already
// stopping, so the stop left its kill timer alone. The earlier deadline
// now holds: the stop's graceful_timeout.
func TestStopDoesNotWaitForAKillsLongerGrace(t *testing.T) {
	w := testWatcher("web", "stubborn", 1)
	w.Sockets = []string{"web"}
	w.GracefulTimeout = 300 * time.Millisecond
	h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{w}}, Options{})
	pid := h.spawned()
	h.serving("web")
	h.do("kill", map[string]any{"name": "web", "pid": pid, "graceful_timeout": 86400.0})
	h.do("stop", map[string]any{"name": "web", "waiting": true}) // fails the test at `hang` without the fix
	if proctest.Alive(pid) {
		t.Errorf("worker %d alive after the stop", pid)
	}
}

// TestKillCommandIsReaped: circusd publishes reap for a worker its kill
// command stopped (the worker stays among its processes until reaped;
// Circus's watchdog plugin forgets a pid only on reap). poold published
// kill and no reap, as for a decr.
func TestKillCommandIsReaped(t *testing.T) {
	h := start(t, &configs.Config{Watchers: []configs.Watcher{testWatcher("web", "sleep", 1)}}, Options{})
	pid := h.spawned()
	h.do("kill", map[string]any{"name": "web", "pid": pid})
	h.next(string(events.KindReap), func(ev events.Event) bool { return ev.Fields["process_pid"] == pid })
}
