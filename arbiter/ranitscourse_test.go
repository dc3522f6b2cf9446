package arbiter

import (
	"fmt"
	"testing"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
)

// exitingWorker is a watcher of one worker that runs secs, then exits 0;
// its slot gives up at its second early death.
func exitingWorker(name string, secs float64) configs.Watcher {
	w := configs.DefaultWatcher(name)
	w.Cmd = "/bin/sh"
	w.Args = []string{"-c", fmt.Sprintf("sleep %g; exit 0", secs)}
	w.NumProcesses = 1
	w.FlappingAttempts, w.FlappingMaxRetry = 2, 0
	return w
}

// TestWorkerThatExitsZeroAfterRunningIsNotACrash: a queue consumer that
// exits 0 on purpose (RQ --burst, --max-jobs, an idle exit) after a
// while was judged by its uptime alone, so a 1.5 s one flapped and its
// slot failed (r59b review: the queue unconsumed after ~100 s).
// supervisord counts a process that lived startsecs as started, and
// circusd never flags it. A status 0 of a worker that was ready and ran
// 1 s is replaced at once: no backoff, no flapping, no failed.
func TestWorkerThatExitsZeroAfterRunningIsNotACrash(t *testing.T) {
	h := start(t, &configs.Config{Watchers: []configs.Watcher{exitingWorker("burst", 1.2)}}, Options{})
	for exits := 0; exits < 3; {
		ev := h.next("", func(ev events.Event) bool {
			switch ev.Kind {
			case events.KindExit, events.KindBackoff, events.KindFlapping, events.KindFailed:
				return true
			}
			return false
		})
		if ev.Kind != events.KindExit {
			t.Fatalf("after %d exits with status 0: %s %v, want the worker replaced at once", exits, ev.Kind, ev.Fields)
		}
		exits++
	}
	if r := h.do("status", map[string]any{"name": "burst"}); r["status"] != "active" && r["status"] != "starting" {
		t.Errorf("status %v, want the watcher running", r)
	}
}

// A status 0 soon after start is still an early death (a misconfigured
// command, a program printing its usage): with no floor it would spin.
// Before readiness, and once ready (100 ms alive) but before 1 s.
func TestWorkerThatExitsZeroAtOnceStillFails(t *testing.T) {
	for _, secs := range []float64{0, 0.3} {
		t.Run(fmt.Sprint(secs), func(t *testing.T) {
			h := start(t, &configs.Config{Watchers: []configs.Watcher{exitingWorker("quick", secs)}}, Options{})
			h.next(string(events.KindBackoff), nil)
			ev := h.next(string(events.KindFailed), nil)
			if ev.Fields["reason"] != "exited with status 0" {
				t.Errorf("failed: %v, want the reason to say status 0", ev.Fields)
			}
		})
	}
}
