package procinfo

import (
	"os/exec"
	"testing"
)

func TestGivenAfter(t *testing.T) {
	for _, c := range []struct {
		pid, mark, now int
		want           bool
	}{
		{100, 99, 120, true},
		{99, 99, 120, false},
		{120, 99, 120, true},
		{121, 99, 120, false},
		{50, 99, 120, false},
		{99, 99, 99, false},           // nothing given since
		{4000000, 3999990, 400, true}, // wrapped at pid_max
		{301, 3999990, 400, true},
		{401, 3999990, 400, false},
		{3999990, 3999990, 400, false},
	} {
		if got := GivenAfter(c.pid, c.mark, c.now); got != c.want {
			t.Errorf("GivenAfter(%d, %d, %d) = %v, want %v", c.pid, c.mark, c.now, got, c.want)
		}
	}
}

// TestLastPidOrdersAFork: a process forked after LastPid is given after
// it; the test binary itself, before it.
func TestLastPidOrdersAFork(t *testing.T) {
	mark, err := LastPid()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	now, err := LastPid()
	if err != nil {
		t.Fatal(err)
	}
	if p := cmd.Process.Pid; !GivenAfter(p, mark, now) {
		t.Errorf("pid %d forked after mark %d (now %d) is not given after it", p, mark, now)
	}
}
