package handover

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/watcher/proctest"
)

// leaderEnv makes this test binary a process whose first thread ends
// while its other threads live on (leaderEnds).
const leaderEnv = "HANDOVER_TEST_LEADER_ENDS"

func init() {
	if os.Getenv(leaderEnv) != "" {
		// Kept on the first thread through TestMain, so that the thread
		// leaderEnds ends is that one.
		runtime.LockOSThread()
	}
}

func TestMain(m *testing.M) {
	if os.Getenv(leaderEnv) != "" {
		leaderEnds()
	}
	os.Exit(m.Run())
}

// leaderEnds ends the calling thread, the process's first, alone (exit,
// not exit_group): /proc/PID then shows a zombie while the runtime's
// other threads sleep on, as a program that execs from another thread
// shows until its exec is done. A signal's default action still ends
// the whole process.
func leaderEnds() {
	_, _, errno := syscall.Syscall(syscall.SYS_EXIT, 0, 0, 0)
	panic("exit of the first thread returned: " + errno.Error())
}

// A process whose first thread has ended while its others live on (a
// Go program that re-execs itself from another thread, until the exec
// is done) shows as a zombie in /proc/PID/stat, but it has not exited:
// Started and Wait must go on looking at it, not say it exited. They did,
// and poold then never counted a -race test worker that re-execs itself
// ready: its slot stayed "starting" with the worker running.
func TestAnEndedFirstThreadIsNoExit(t *testing.T) {
	c := exec.Command(os.Args[0], "-test.run=^$")
	c.Env = append(os.Environ(), leaderEnv+"=1")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	reaped := false
	t.Cleanup(func() {
		if !reaped {
			_ = c.Process.Kill()
			_ = c.Wait()
		}
	})
	pid := c.Process.Pid
	proctest.Eventually(t, "its first thread ended", func() bool {
		s, _, err := stateOf(pid)
		return err == nil && s == 'Z'
	})
	if exited(pid) || zombie(pid) {
		t.Fatalf("pid %d, whose other threads live on, counts as exited", pid)
	}
	if err := started(pid, time.Hour, 300*time.Millisecond); !errors.Is(err, ErrNotStarted) {
		t.Fatalf("Started: %v; want %v", err, ErrNotStarted)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := Wait(ctx, pid, Inodes{}, 300*time.Millisecond); !errors.Is(err, ErrNotSeen) {
		t.Fatalf("Wait: %v; want %v", err, ErrNotSeen)
	}
	// Killed, it is a zombie once its last thread has ended, then gone.
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	proctest.Eventually(t, "the killed process a zombie", func() bool { return zombie(pid) })
	if err := started(pid, time.Hour, time.Minute); !errors.Is(err, ErrExited) {
		t.Fatalf("killed, unreaped: %v; want %v", err, ErrExited)
	}
	_ = c.Wait()
	reaped = true
	if err := started(pid, time.Hour, time.Minute); !errors.Is(err, ErrExited) {
		t.Fatalf("killed, reaped: %v; want %v", err, ErrExited)
	}
}
