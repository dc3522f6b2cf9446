package arbiter

import (
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher"
	"github.com/poold/poold/watcher/proctest"
)

// TestDrainingWorkerShowsItsDeadline: a worker being stopped says how
// long it may still drain, until poold's SIGKILL at its graceful_timeout:
// its slot in status NAME (kill_at, kill_in) and its stats (kill_in).
// Both said "stopping" alone (r61 longconn trial, finding 3).
func TestDrainingWorkerShowsItsDeadline(t *testing.T) {
	w := stubbornOn("stub", "s", 1)
	w.GracefulTimeout = time.Hour // it drains for the whole test
	h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("s")}, Watchers: []configs.Watcher{w}}, Options{})
	h.spawns(1)
	h.serving("s") // it ignores SIGTERM from now on
	asked := time.Now()
	h.do("decr", map[string]any{"name": "stub"})
	var draining map[string]any
	proctest.Eventually(t, "a worker of stub stopping", func() bool {
		for _, row := range h.do("status", map[string]any{"name": "stub"})["slots"].([]map[string]any) {
			if row["state"] == watcher.ProcStopping {
				draining = row
				return true
			}
		}
		return false
	})
	pid := draining["pid"].(int)
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) }) // it ignores SIGTERM
	left, _ := draining["kill_in"].(float64)
	at, _ := draining["kill_at"].(float64)
	if left <= 0 || left > time.Hour.Seconds() || at < float64(asked.Add(time.Hour).Unix()) {
		t.Errorf("status slot of the draining worker %v, want kill_in up to 3600 s and kill_at an hour after the decr", draining)
	}
	in := h.do("stats", map[string]any{"name": "stub"})["info"].(map[string]ProcInfo)[strconv.Itoa(pid)]
	if in.State != watcher.ProcStopping || in.KillIn == nil || *in.KillIn <= 0 || *in.KillIn > time.Hour.Seconds() {
		t.Errorf("stats of the draining worker: state %s kill_in %v, want up to 3600 s", in.State, in.KillIn)
	}
}
