package arbiter

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher/proctest"
)

// TestWorkerDeathLogNamesThePid: "worker ended soon after start;
// restarting its slot after a delay" named the watcher and the wid but
// not the pid, while every line the worker wrote to poold's log carries
// only its pid and wid, and a wid is reused by each respawn: which
// worker's last lines explain the death could not be told. The warning
// now names the pid.
func TestWorkerDeathLogNamesThePid(t *testing.T) {
	w := testWatcher("crashy", "crash", 1)
	h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{})
	ev := h.next(string(events.KindReap), nil)
	pid := fmt.Sprint(ev.Fields["process_pid"])
	proctest.Eventually(t, "the death in the log", func() bool {
		return missing(h.log.String(), [][]string{{"worker ended", "watcher=crashy", "wid=1", "pid=" + pid + " "}}) == nil
	})
	if strings.Contains(h.log.String(), "pid=0 ") {
		t.Errorf("a death logged with pid=0:\n%s", h.log.String())
	}
}

// TestReadyWorkerDeathSaysItWasReady: a worker killed 9.4 s into its
// service, inside backoff_reset, was logged "worker ended soon after
// start; restarting its slot after a delay" (r60 rollover trial), which
// reads as a failed boot. A worker that had become ready is now logged
// as such, with the early window that makes its slot wait; one that
// never became ready keeps "soon after start".
func TestReadyWorkerDeathSaysItWasReady(t *testing.T) {
	w := testWatcher("web", "sleep", 1)
	// The kill falls inside the early window however slow the machine.
	w.BackoffReset, w.FlappingWindow = time.Hour, time.Hour
	h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{})
	ev := h.next(string(events.KindReady), nil)
	pid, _ := ev.Fields["process_pid"].(int)
	if pid == 0 {
		t.Fatalf("ready event without a pid: %v", ev.Fields)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	want := []string{"worker ended after it had become ready, but young (its uptime under backoff_reset or flapping_window); restarting its slot after a delay",
		"watcher=web", "pid=" + fmt.Sprint(pid) + " ", "early_window=1h0m0s"}
	proctest.Eventually(t, "the ready worker's death in the log", func() bool {
		return missing(h.log.String(), [][]string{want}) == nil
	})
	if strings.Contains(h.log.String(), "ended soon after start") {
		t.Errorf("a ready worker's death logged as ending soon after start:\n%s", h.log.String())
	}
}
