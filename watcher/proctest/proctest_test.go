package proctest

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// childEnv makes the test binary a child that waits for a signal.
const childEnv = "POOLD_PROCTEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "sleep" {
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGTERM)
		<-c
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

// TestAlive follows one child through running, zombie and reaped; its
// name, "x) Z (y", would fool a parser that reads the state after the
// first ')'.
func TestAlive(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(t.TempDir(), "x) Z (y")
	if err := os.Symlink(self, name); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(name)
	cmd.Env = append(os.Environ(), childEnv+"=sleep")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	reaped := false
	t.Cleanup(func() {
		if !reaped {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	if !Alive(os.Getpid()) || !Alive(pid) {
		t.Fatalf("Alive(self %d) = %v, Alive(child %d) = %v; want both true", os.Getpid(), Alive(os.Getpid()), pid, Alive(pid))
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	Eventually(t, fmt.Sprintf("child %d to exit", pid), func() bool { return !Alive(pid) })
	// Not reaped yet: a zombie, which Alive must not count.
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err != nil || !strings.Contains(string(b), ") Z ") {
		t.Errorf("child %d is not a zombie: %q, %v", pid, b, err)
	}
	if err := cmd.Wait(); cmd.ProcessState == nil || cmd.ProcessState.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Errorf("child: %v, want killed", err)
	}
	reaped = true
	if Alive(pid) {
		t.Errorf("Alive(%d) after it was reaped", pid)
	}
	if Alive(0) || Alive(-1) {
		t.Error("Alive of pid 0 or -1")
	}
}

func TestPoll(t *testing.T) {
	n := 0
	if !Poll(hang, func() bool { n++; return n == 3 }) || n != 3 {
		t.Errorf("Poll returned after %d checks, want true after 3", n)
	}
	if Poll(20*time.Millisecond, func() bool { return false }) {
		t.Error("Poll of a condition that never holds returned true")
	}
}

// fatalRecorder is a testing.TB whose Fatalf records the message and ends
// the goroutine, as the real one does.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Helper() {}

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestEventuallyNamesWhatItWaitedFor(t *testing.T) {
	rec := &fatalRecorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		eventually(rec, 20*time.Millisecond, "the moon to turn blue", func() bool { return false })
	}()
	<-done
	if want := "waited 20ms for the moon to turn blue: still not so"; rec.msg != want {
		t.Errorf("failure %q, want %q", rec.msg, want)
	}
}
