package arbiter

import (
	"fmt"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
)

// A multi-threaded worker that execs from another thread than its first
// shows as a zombie in /proc/PID/stat until its exec is done: the kernel
// ends the first thread, then the exec'ing one takes over its pid. A
// -race test worker did so (it re-execs itself, and its goroutine could
// run on any thread, until workertest kept it on its first), as do Go
// programs that re-exec themselves from a goroutine.
// Readiness "spawn" took a worker seen so for one that had exited and
// waited for its exit, which never came: it stayed "starting" for good,
// its watcher too, and on a loaded machine
// TestKilledLongLivedWorkersAreReplacedAtOnce waited a minute for a
// replacement's ready event (4 of about 60 runs beside a CPU hog). A
// worker whose first thread has ended for good stands for that moment:
// it must be counted ready (at ready_timeout, shortened here: it is
// never seen asleep).
func TestWorkerWhoseFirstThreadEndedIsReady(t *testing.T) {
	for _, sockets := range [][]string{nil, {"web"}} {
		// Without a socket readiness watches its state (handover.Started);
		// with one, whether it waits for connections (handover.Wait),
		// which looks at its state only once the wait is over: that case
		// failed every time, the other when poold first looked at the
		// worker after its first thread had ended.
		t.Run(fmt.Sprintf("sockets %v", sockets), func(t *testing.T) {
			w := testWatcher("web", "leader-ends", 1)
			w.ReadyTimeout = 2 * time.Second
			w.Sockets = sockets
			cfg := &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{w}}
			h := start(t, cfg, Options{})
			pid := h.spawned()
			ev := h.next("", func(ev events.Event) bool {
				return ev.Fields["process_pid"] == pid && (ev.Kind == "ready" || ev.Kind == "exit" || ev.Kind == "unhealthy")
			})
			if ev.Kind != "ready" {
				t.Fatalf("%s of pid %d, whose first thread ended: %v; want ready", ev.Kind, pid, ev.Fields)
			}
			if st := h.do("status", map[string]any{"name": "web"}); st["status"] != "active" {
				t.Errorf("status %v", st)
			}
		})
	}
}
