package procinfo

import (
	"os/exec"
	"slices"
	"strconv"
	"syscall"
	"testing"

	"github.com/poold/poold/watcher/proctest"
)

// TestLeftRunningCountsWhatIsKilled: a running process is left running,
// and so is one dying of SIGKILL (what poold kills at a stop's deadline),
// before and after it is a zombie; one dying of SIGTERM is not.
func TestLeftRunningCountsWhatIsKilled(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGTERM} {
		cmd := exec.Command("sleep", "1000")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		pid := cmd.Process.Pid
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		if got := LeftRunning([]int{pid}); !slices.Equal(got, []int{pid}) {
			t.Fatalf("LeftRunning of running sleep %d = %v", pid, got)
		}
		if err := syscall.Kill(pid, sig); err != nil {
			t.Fatal(err)
		}
		want := []int{pid}
		if sig != syscall.SIGKILL {
			want = nil
		}
		if got := LeftRunning([]int{pid}); !slices.Equal(got, want) {
			t.Errorf("LeftRunning of sleep %d sent %v = %v, want %v", pid, sig, got, want)
		}
		proctest.Eventually(t, "the sleep to be a zombie", func() bool {
			b, err := readSmall("/proc/"+strconv.Itoa(pid)+"/stat", make([]byte, statBufSize))
			l, ok := exitFields(b)
			return err == nil && ok && l.state == 'Z'
		})
		if got := LeftRunning([]int{pid}); !slices.Equal(got, want) {
			t.Errorf("LeftRunning of sleep %d, a zombie of %v, = %v, want %v", pid, sig, got, want)
		}
	}
}

func TestPendingFatal(t *testing.T) {
	for _, c := range []struct {
		status string
		want   bool
	}{
		{"State:\tS (sleeping)\nSigPnd:\t0000000000000000\nShdPnd:\t0000000000000000\n", false},
		{"State:\tR (running)\nSigPnd:\t0000000000000100\nShdPnd:\t0000000000004000\n", true}, // SIGTERM's death
		{"SigPnd:\t0000000000000100\nShdPnd:\t0000000000000100\n", false},                     // a SIGKILL: poold's
		{"ShdPnd:\t0000000000004000\nSigBlk:\tfffffffe7ffbfeff\n", true},                      // SIGTERM blocked for a moment
		{"ShdPnd:\t0000000000004000\nSigIgn:\t0000000000004000\n", false},                     // ignored
		{"ShdPnd:\t0000000000004000\nSigCgt:\t0000000000004000\n", false},                     // handled
		{"ShdPnd:\t0000000000010000\n", false},                                                // SIGCHLD
	} {
		if got := pendingFatal([]byte(c.status)); got != c.want {
			t.Errorf("pendingFatal(%q) = %v, want %v", c.status, got, c.want)
		}
	}
}
