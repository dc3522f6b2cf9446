package arbiter

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher/proctest"
)

// A stop reads graceful_timeout as the watcher has it when the stop
// begins; what a worker killed by a signal left got the value the worker
// was spawned with: after `set m graceful_timeout 2`, a master's kill -9
// left its worker an hour (r63 review L3). The drain now takes the
// watcher's current stop_signal and graceful_timeout, as a stop does.
func TestDrainTakesTheGracefulTimeoutSetSinceTheSpawn(t *testing.T) {
	h, _, master, child := startHeldMaster(t, "linger", func(w *configs.Watcher) { w.GracefulTimeout = time.Hour })
	h.do("set", map[string]any{"name": "m", "options": map[string]any{"graceful_timeout": 2, "stop_signal": "INT"}})
	if err := syscall.Kill(master, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 of the master %d: %v", master, err)
	}
	ev := h.next("reap", func(e events.Event) bool { return e.Watcher == "m" && e.Fields["process_pid"] == master })
	const want = "killed by signal KILL, leaving 1 process(es) running, which poold sent INT (SIGKILL to those left after graceful_timeout 2s)"
	if why := fmt.Sprint(ev.Fields["exit_reason"]); why != want {
		t.Errorf("exit_reason %q, want %q", why, want)
	}
	// The lingering worker is SIGKILLed 2 s on, not in an hour.
	proctest.Eventually(t, "the lingering worker to be killed at the new graceful_timeout", func() bool { return !proctest.Alive(child) })
}
