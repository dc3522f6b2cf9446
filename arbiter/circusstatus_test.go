package arbiter

import (
	"os"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher/proctest"
)

// TestStatusSpeaksCircusWords: status answers in Circus's four words
// (active, stopped, starting, stopping), what circusd says for the same
// watcher, and adds poold's finer word as state (states beside
// statuses). r65 protocol trial F1: circusd says active for a crash
// loop, which poold answered flapping, then failed, so that `circusctl
// status web | grep active`, or a dashboard mapping the four words, took
// a pool that still served for down. A watcher poold gave up on is
// stopped when none of its workers runs (as Circus's flapping plugin
// stops one), active while healthy slots still serve.
func TestStatusSpeaksCircusWords(t *testing.T) {
	crash := testWatcher("crashy", "crash", 1)
	crash.BackoffMin, crash.BackoffMax = time.Millisecond, 5*time.Millisecond
	crash.FlappingAttempts, crash.FlappingWindow = 2, time.Minute
	// Paused long enough for the two looks below, well short of a hang.
	crash.FlappingRetryIn, crash.FlappingMaxRetry = 2*time.Second, 1
	// half: wid 1 crashes at once, wid 2 serves.
	half := testWatcher("half", "sleep", 2)
	half.Cmd = "/bin/sh"
	half.Args = []string{"-c", `[ "$POOLD_WID" = 1 ] && exit 3; exec "$0"`, os.Args[0]}
	half.BackoffMin, half.BackoffMax = time.Millisecond, 5*time.Millisecond
	half.FlappingAttempts, half.FlappingWindow = 2, time.Minute
	half.FlappingRetryIn, half.FlappingMaxRetry = 300*time.Millisecond, 1
	h := start(t, &configs.Config{Watchers: []configs.Watcher{crash, half}}, Options{})

	check := func(when, name, status, state string) {
		t.Helper()
		one := h.do("status", map[string]any{"name": name})
		if one["status"] != status || one["state"] != state {
			t.Errorf("%s: status %s: status %v, state %v; want %s, %s (reply %v)", when, name, one["status"], one["state"], status, state, one)
		}
		all := h.do("status", nil)
		st, _ := all["statuses"].(map[string]any)
		fine, _ := all["states"].(map[string]any)
		if st[name] != status || fine[name] != state {
			t.Errorf("%s: status: statuses[%s] %v, states[%s] %v; want %s, %s", when, name, st[name], name, fine[name], status, state)
		}
	}
	h.next("flapping", func(ev events.Event) bool { return ev.Watcher == "crashy" })
	check("crash loop paused", "crashy", "active", "flapping")
	proctest.Eventually(t, "both gave up", func() bool {
		fine, _ := h.do("status", nil)["states"].(map[string]any)
		return fine["crashy"] == "failed" && fine["half"] == "failed"
	})
	check("gave up, nothing runs", "crashy", "stopped", "failed")
	check("gave up on wid 1, wid 2 serves", "half", "active", "failed")
}
