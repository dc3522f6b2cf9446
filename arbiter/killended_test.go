package arbiter

import (
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher/proctest"
)

// TestGraceOverAfterTheWorkerEndedKillsNothing: a worker that ended of
// its SIGTERM at once, but whose exit was still being handled when its
// graceful_timeout ran out (its cgroup's clean-up waited for a slot, as
// the clean-ups of a stop of 10,000 workers do), was logged "stop not
// over within graceful_timeout" and SIGKILLed through cgroup.kill:
// 1,703 of 10,000 in one stop (issue 18).
func TestGraceOverAfterTheWorkerEndedKillsNothing(t *testing.T) {
	w := testWatcher("web", "serve", 1)
	w.Sockets = []string{"web"}
	w.GracefulTimeout = 200 * time.Millisecond
	h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{w}}, Options{})
	needCgroups(t, h)
	pid := h.spawned()
	h.serving("web")
	// Every clean-up slot held: the worker's exit waits for one.
	for range cap(h.a.cleanups) {
		h.a.cleanups <- struct{}{}
	}
	held := true
	release := func() {
		if held {
			held = false
			for range cap(h.a.cleanups) {
				<-h.a.cleanups
			}
		}
	}
	t.Cleanup(release)
	h.do("stop", map[string]any{"name": "web"})
	proctest.Eventually(t, "the worker reaped", func() bool { return !proctest.Alive(pid) })
	const killed, spared = "stop not over within graceful_timeout", "grace over after the worker ended: no kill"
	proctest.Eventually(t, "its grace over (a kill, or a line saying none)", func() bool {
		l := h.log.String()
		return strings.Contains(l, killed) || strings.Contains(l, spared)
	})
	release()
	reap := h.next("reap", func(ev events.Event) bool { return ev.Fields["process_pid"] == pid })
	if strings.Contains(h.log.String(), killed) {
		t.Errorf("a worker that had ended was killed at its grace: %s", lineWith(h.log.String(), killed))
	}
	if r := reap.Fields["reason"]; r == "graceful_timeout" {
		t.Errorf("reap reason %v for a worker that ended of its SIGTERM: %v", r, reap.Fields)
	}
}

func lineWith(log, s string) string {
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}
