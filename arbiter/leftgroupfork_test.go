package arbiter

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/watcher/proctest"
	"golang.org/x/sys/unix"
)

// Without cgroups, a process that what a killed worker left starts as it
// gets the stop signal, and then exits at once (a shutdown hook that
// starts an uploader and returns), was never proven the worker's: its
// parent, the one proven, had ended by the next look at the group. It ran
// on in the dead worker's process group, unsignalled, while poold logged
// that all had ended. poold, the subreaper that reaps the parent, lists
// the group just before, while the parent's zombie still holds the
// group's number: the helper is SIGKILLed at graceful_timeout.
func TestKilledMastersWorkersHelperStartedAtTheStopIsKilledAfterGrace(t *testing.T) {
	t.Cleanup(func() { // after the arbiter has stopped: cleanups run last first
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0); err != nil {
			t.Errorf("stop being a subreaper: %v", err)
		}
	})
	const grace = 4 * time.Second
	l := startLostMasterPlain(t, "spawn", grace, Options{NoCgroups: true, ReapOrphans: true})
	h := l.h
	h.spawned()
	helper := readPid(t, l.dir, "helper.pid")
	t.Cleanup(func() { _ = syscall.Kill(helper, syscall.SIGKILL) })
	if g, err := syscall.Getpgid(helper); err != nil || g != l.master {
		t.Fatalf("the helper %d is in process group %d (%v), want the dead master's %d", helper, g, err, l.master)
	}
	ev := leftEnded(t, l.left)
	if ev.Fields["left"] != 1 || ev.Fields["killed"] != 1 {
		t.Errorf("left_ended %v, want left 1, killed 1 (the helper)", ev.Fields)
	}
	proctest.Eventually(t, "the helper to be gone", func() bool { return !proctest.Alive(helper) })
	if log := h.log.String(); strings.Contains(log, "has ended within graceful_timeout") || strings.Contains(log, "has not all ended") {
		t.Errorf("the log says the leftovers ended, or that some could not be proven:\n%s", log)
	}
}
