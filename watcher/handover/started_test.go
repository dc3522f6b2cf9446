package handover

import (
	"context"
	"errors"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/watcher/proctest"
)

// startProc starts argv, to be killed and reaped when the test ends.
func startProc(t *testing.T, argv ...string) *exec.Cmd {
	t.Helper()
	c := exec.Command(argv[0], argv[1:]...)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.Process.Kill()
		_ = c.Wait()
	})
	return c
}

func started(pid int, cpu, bound time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	return Started(ctx, pid, cpu)
}

// A worker asleep in a wait has started; so has one that computes
// without sleeping, once it has used its share of CPU.
func TestStartedSeesAsleepOrBusy(t *testing.T) {
	asleep := startProc(t, "sleep", "60")
	if err := started(asleep.Process.Pid, time.Hour, time.Minute); err != nil {
		t.Fatalf("sleep 60: %v; want started", err)
	}
	busy := startProc(t, "sh", "-c", "while :; do :; done")
	if err := started(busy.Process.Pid, 30*time.Millisecond, time.Minute); err != nil {
		t.Fatalf("a busy loop: %v; want started once it used 30ms of CPU", err)
	}
}

// A worker that is neither asleep nor running (stopped here, as a
// program kept from a CPU by the machine's load is, to its clock) has not
// started however long it lived; one that exits never started.
func TestStartedWaitsForAStoppedOneAndSeesAnExit(t *testing.T) {
	c := startProc(t, "sleep", "60")
	pid := c.Process.Pid
	if err := started(pid, time.Hour, time.Minute); err != nil {
		t.Fatalf("sleep 60 before it is stopped: %v", err)
	}
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	proctest.Eventually(t, "sleep stopped", func() bool {
		s, _, err := stateOf(pid)
		return err == nil && s == 'T'
	})
	if err := started(pid, time.Hour, 200*time.Millisecond); !errors.Is(err, ErrNotStarted) {
		t.Fatalf("stopped: %v; want %v", err, ErrNotStarted)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Unreaped (a zombie), then reaped (gone): exited either way.
	if err := started(pid, time.Hour, time.Minute); !errors.Is(err, ErrExited) {
		t.Fatalf("killed, unreaped: %v; want %v", err, ErrExited)
	}
	_ = c.Wait()
	if err := started(pid, time.Hour, time.Minute); !errors.Is(err, ErrExited) {
		t.Fatalf("killed, reaped: %v; want %v", err, ErrExited)
	}
}
