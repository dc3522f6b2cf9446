package arbiter

import (
	"testing"
	"time"

	"github.com/poold/poold/configs"
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
