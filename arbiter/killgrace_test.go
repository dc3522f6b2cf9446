package arbiter

import (
	"strings"
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

// TestKillGraceLogNamesTheGraceApplied: `kill NAME --graceful-timeout 0.3`
// of a watcher whose graceful_timeout is an hour SIGKILLed the worker at
// 300ms, as its reap event said, but the WARN line said
// graceful_timeout=1h0m0s: the watcher's setting, not the grace applied.
func TestKillGraceLogNamesTheGraceApplied(t *testing.T) {
	w := testWatcher("web", "stubborn", 1)
	w.Sockets = []string{"web"}
	w.GracefulTimeout = time.Hour
	h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{w}}, Options{})
	pid := h.spawned()
	h.serving("web")
	h.do("kill", map[string]any{"name": "web", "pid": pid, "graceful_timeout": 0.3})
	proctest.Eventually(t, "worker killed at the kill's grace", func() bool { return !proctest.Alive(pid) })
	var line string
	proctest.Eventually(t, "the kill's WARN line", func() bool {
		for _, l := range strings.Split(h.log.String(), "\n") {
			if strings.Contains(l, "stop not over within graceful_timeout") {
				line = l
				return true
			}
		}
		return false
	})
	if !strings.Contains(line, "graceful_timeout=300ms") {
		t.Errorf("WARN line does not name the 300ms grace applied: %s", line)
	}
	// So that the test's own stop does not wait an hour for the new worker.
	h.do("set", map[string]any{"name": "web", "options": map[string]any{"graceful_timeout": 0.3}})
}

// TestSetGraceDuringStopSaysTheStopKeepsItsDeadline: `set NAME
// graceful_timeout N` while workers are stopping answered ok and left
// their stop at the deadline it had (as systemd's TimeoutStopSec does),
// and nothing said so: an operator raising it to save a running job saw
// the job killed. The stop keeps its deadline; the log says so.
func TestSetGraceDuringStopSaysTheStopKeepsItsDeadline(t *testing.T) {
	w := testWatcher("web", "stubborn", 1)
	w.Sockets = []string{"web"}
	w.GracefulTimeout = 2 * time.Second
	h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{w}}, Options{})
	pid := h.spawned()
	h.serving("web")
	h.do("stop", map[string]any{"name": "web"})
	h.do("set", map[string]any{"name": "web", "options": map[string]any{"graceful_timeout": 120.0}})
	proctest.Eventually(t, "worker killed at the stop's own deadline", func() bool { return !proctest.Alive(pid) })
	if !strings.Contains(h.log.String(), "graceful_timeout changed: the workers already stopping keep the deadline they were given") {
		t.Errorf("nothing said that the stop under way keeps its deadline")
	}
	if !strings.Contains(h.log.String(), "graceful_timeout=2s") {
		t.Errorf("the WARN line does not name the 2s the stop was given")
	}
}
