package arbiter

import (
	"strings"
	"syscall"
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
	w.GracefulTimeout = 3 * time.Second // long enough for the worker to end of its SIGTERM on a loaded host
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
	stopGraceOverAfterEnd(t, h, "web", pid, release)
}

// stopGraceOverAfterEnd stops watcher name, whose worker pid ends of its
// SIGTERM at once while what its end waits for is held (release lets it
// go on) until its graceful_timeout is over: the worker must be neither
// killed at its grace nor reaped as graceful_timeout.
func stopGraceOverAfterEnd(t *testing.T, h *harness, name string, pid int, release func()) {
	t.Helper()
	h.do("stop", map[string]any{"name": name})
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

// TestShorterKillGraceReachesWhatAnEndedWorkerLeft: a worker that ended
// of its SIGTERM but left a child that ignores it, stopped with a long
// graceful_timeout, then killed with a short one (`poolctl kill NAME PID
// --graceful-timeout 1`): the child is killed at the short deadline. The
// kill of a worker already reaped was skipped whatever its cgroup still
// held, and the clean-up kept the deadline it had read at its start, so
// the child ran until the long one (r65 review2 M1).
func TestShorterKillGraceReachesWhatAnEndedWorkerLeft(t *testing.T) {
	dir, w := wrapperScript(t, `trap '' TERM
echo $$ > "$1/app.pid"
while :; do sleep 1 & wait $!; done
`)
	w.GracefulTimeout = 5 * time.Minute
	h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{})
	needCgroups(t, h)
	worker := h.spawned()
	app := readPid(t, dir, "app.pid")
	// It ignores SIGTERM and outlives the worker: killed here if the test
	// fails (or stops) before poold killed it, rather than left under init.
	// Registered after start's clean-up, so it runs before the arbiter stops.
	t.Cleanup(func() { _ = syscall.Kill(app, syscall.SIGKILL) })
	h.do("stop", map[string]any{"name": "wrapped"})
	proctest.Eventually(t, "the worker ended of its SIGTERM", func() bool { return !proctest.Alive(worker) })
	h.do("kill", map[string]any{"name": "wrapped", "pid": worker, "graceful_timeout": 1.0})
	if !proctest.Poll(time.Minute, func() bool { return !proctest.Alive(app) }) {
		t.Fatalf("app pid %d, left by worker %d, still runs a minute after a kill with a graceful_timeout of 1s (the stop's is 5m)\n%s", app, worker, h.log.String())
	}
}
