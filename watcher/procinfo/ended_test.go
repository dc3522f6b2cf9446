package procinfo

import (
	"slices"
	"strconv"
	"syscall"
	"testing"

	"github.com/poold/poold/watcher/proctest"
)

// A process whose first thread has ended while another runs (a main
// thread's pthread_exit) shows the leader's zombie state in /proc/PID,
// but it runs: Gone, Running, LeftRunning and StartTicks must say so. They
// called it ended, so a stop left it to init and the leftover sweep
// skipped it. Ended all threads (SIGTERM's default action), it is gone.
func TestAnEndedFirstThreadIsNoEnd(t *testing.T) {
	h := startHelper(t, "leader-ends")
	pid := h.pid
	before, err := StartTicks(pid)
	if err != nil {
		t.Fatal(err)
	}
	proctest.Eventually(t, "its first thread ended", func() bool {
		b, err := readSmall("/proc/"+strconv.Itoa(pid)+"/stat", make([]byte, statBufSize))
		l, ok := exitFields(b)
		return err == nil && ok && l.state == 'Z' && l.threads > 1
	})
	if Gone(pid) {
		t.Errorf("Gone(%d) for a process whose other threads run", pid)
	}
	if got := Running([]int{pid}); !slices.Equal(got, []int{pid}) {
		t.Errorf("Running = %v, want [%d]", got, pid)
	}
	if got := LeftRunning([]int{pid}); !slices.Equal(got, []int{pid}) {
		t.Errorf("LeftRunning = %v, want [%d]", got, pid)
	}
	if start, err := StartTicks(pid); err != nil || start != before {
		t.Errorf("StartTicks = %d, %v; want %d as before its first thread ended", start, err, before)
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	proctest.Eventually(t, "the process ended of SIGTERM counts as gone", func() bool { return Gone(pid) })
	proctest.Eventually(t, "the process ended of SIGTERM not left running", func() bool { return len(LeftRunning([]int{pid})) == 0 })
	if _, err := StartTicks(pid); err == nil {
		t.Error("StartTicks of the ended process: no error")
	}
}

// LeaderEnded: a leader's zombie state (or PF_EXITING) ends the process
// only as its last thread; Threads: 0 says look again.
func TestLeaderEnded(t *testing.T) {
	for _, c := range []struct {
		state        byte
		exiting      bool
		threads      int
		ended, again bool
	}{
		{'S', false, 4, false, false},
		{'R', true, 1, true, false}, // inside exit, alone
		{'Z', false, 1, true, false},
		{'X', false, 1, true, false},
		{'Z', true, 2, false, false}, // pthread_exit: the others run
		{'Z', false, 0, false, true}, // being released
	} {
		ended, again := LeaderEnded(c.state, c.exiting, c.threads)
		if ended != c.ended || again != c.again {
			t.Errorf("LeaderEnded(%c, %v, %d) = %v, %v; want %v, %v", c.state, c.exiting, c.threads, ended, again, c.ended, c.again)
		}
	}
}
