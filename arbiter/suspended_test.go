package arbiter

import (
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher/proctest"
)

// TestStopWakesASuspendedWorker: a worker suspended by SIGSTOP (a
// debugger, an operator's kill -STOP) that catches SIGTERM got it only
// when it ran again, which it never did: the stop sat out the whole
// graceful_timeout and SIGKILLed it, an hour here. poold now sends SIGCONT
// after the stop signal, as systemd does, so the worker shuts down
// cleanly at once.
func TestStopWakesASuspendedWorker(t *testing.T) {
	w := testWatcher("web", "serve", 1)
	w.Sockets = []string{"web"}
	w.GracefulTimeout = time.Hour
	h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{w}}, Options{})
	pid := h.spawned()
	h.serving("web") // its SIGTERM handler is in place from then on
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	proctest.Eventually(t, "the worker stopped by SIGSTOP", func() bool { return procState(pid) == "T" })
	done := doAsync(h, "stop", map[string]any{"name": "web", "waiting": true})
	ev := h.next("reap", func(e events.Event) bool { return e.Fields["process_pid"] == pid }) // hangs without the fix
	if ev.Fields["reason"] != "exit" || ev.Fields["exit_code"] != 0 {
		t.Errorf("suspended worker ended with %v, want a clean exit on its SIGTERM", ev.Fields)
	}
	if r := <-done; r["status"] != "ok" {
		t.Errorf("stop: %v", r)
	}
}
