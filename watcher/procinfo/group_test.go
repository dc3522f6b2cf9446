package procinfo

import (
	"os"
	"os/exec"
	"slices"
	"syscall"
	"testing"

	"github.com/poold/poold/watcher/proctest"
)

func TestStateAndGroup(t *testing.T) {
	for _, c := range []struct {
		line  string
		state byte
		pgrp  int
		ok    bool
	}{
		{"12 (sleep) S 1 40 40 0 -1", 'S', 40, true},
		{"12 (a) Z 9 (b) R 1 7 8 0", 'R', 7, true}, // comm with ") Z 9 (" in it
		{"12 (x) Z 1 41 41", 'Z', 41, true},
		{"12 (x) S 1", 0, 0, false},
		{"garbage", 0, 0, false},
	} {
		state, pg, ok := stateAndGroup([]byte(c.line))
		if state != c.state || pg != c.pgrp || ok != c.ok {
			t.Errorf("%q: got %c %d %v, want %c %d %v", c.line, state, pg, ok, c.state, c.pgrp, c.ok)
		}
	}
}

// TestGroupMembers finds the processes of a real process group.
func TestGroupMembers(t *testing.T) {
	cmd := exec.Command("/bin/sh", "-c", "sleep 1000 & sleep 1000")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	pg := cmd.Process.Pid
	var got []int
	proctest.Eventually(t, "the shell's background child", func() bool {
		got = GroupMembers(pg)
		return len(got) >= 2
	})
	if !slices.Contains(got, pg) {
		t.Errorf("GroupMembers(%d) = %v, want the shell and its child", pg, got)
	}
	if got := GroupMembers(os.Getpid() + 1<<22 + 7); len(got) != 0 {
		t.Errorf("members of a group that does not exist: %v", got)
	}
}

func TestMemberOf(t *testing.T) {
	m, err := MemberOf(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if m.Pgrp != syscall.Getpgrp() || m.PPid != os.Getppid() || m.Start == 0 || m.Start > BootTicks() {
		t.Errorf("MemberOf(self) = %+v, want group %d, parent %d, a start before now", m, syscall.Getpgrp(), os.Getppid())
	}
}
