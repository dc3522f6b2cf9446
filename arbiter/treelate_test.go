package arbiter

import (
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/procinfo"
	"github.com/poold/poold/watcher/proctest"
)

// TestKillAtTheDeadlineCountsWhatALiveWorkerLeft: the SIGKILL at a stop's
// deadline counts what the worker left running even when the worker itself
// has not ended yet. A shell wrapper whose SIGTERM had sealed its end but
// which had not run since (a loaded host) died of TERM only with the kill;
// the app it left, which ignored TERM and which poold killed at the
// deadline, went uncounted, and the exit said "killed by signal TERM", not
// graceful_timeout (TestStopKillsWhatTheWorkerLeftAtGracefulTimeout/cgroup
// failed so in whole-package runs). Here the worker is alive at the kill.
func TestKillAtTheDeadlineCountsWhatALiveWorkerLeft(t *testing.T) {
	cmd := exec.Command("/bin/sh", "-c", "sleep 1000 & wait")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	t.Cleanup(func() {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	proctest.Eventually(t, "the worker's child in its process group", func() bool {
		return len(procinfo.Running(procinfo.GroupMembers(pid))) == 2
	})
	a := New(&configs.Config{}, Options{NoCgroups: true})
	a.stops.set(pid, time.Now())
	a.leftAtKill(pid)
	if n, ok := a.stops.killedLeft(pid); !ok || n != 1 {
		t.Errorf("at the kill of a stopping worker that still runs, with one child: counted %d (recorded %v), want 1", n, ok)
	}
}
