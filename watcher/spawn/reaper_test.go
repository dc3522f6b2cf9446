package spawn

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/poold/poold/watcher/proctest"
)

// isZombie tells whether pid has ended and waits to be reaped.
func isZombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(f) > 0 && f[0] == "Z"
}

func waitZombie(t *testing.T, pid int) {
	t.Helper()
	proctest.Eventually(t, fmt.Sprintf("pid %d ended, not reaped", pid), func() bool { return isZombie(pid) })
}

// A worker that has ended but is not reaped yet belongs to its spawner:
// the orphan reaper leaves it. (A child the test forks plays the worker,
// registered as the spawner registers its own, so that no spawner reaps
// it first.)
func TestOrphanReaperLeavesWorkers(t *testing.T) {
	pid, err := syscall.ForkExec("/bin/sh", []string{"sh", "-c", "exit 5"}, &syscall.ProcAttr{
		Sys: &syscall.SysProcAttr{Setpgid: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	reaper.mu.Lock()
	reaper.workers[pid] = true
	reaper.mu.Unlock()
	waitZombie(t, pid)
	if took := ReapOrphans(); len(took) > 0 {
		t.Fatalf("the orphan reaper took workers %v", took)
	}
	if !isZombie(pid) {
		t.Fatalf("pid %d was reaped", pid)
	}
	reaper.mu.Lock()
	delete(reaper.workers, pid)
	reaper.mu.Unlock()
	took := ReapOrphans()
	if len(took) != 1 || took[0] != (Orphan{Pid: pid, Exit: Exit{Code: 5}}) {
		t.Fatalf("reaped %v once no worker, want pid %d with status 5", took, pid)
	}
}

// A child that is no worker, outside poold's process group (as every
// orphan of a worker is), is reaped with its status.
func TestOrphanReaperReapsOthers(t *testing.T) {
	pid, err := syscall.ForkExec("/bin/sh", []string{"sh", "-c", "exit 4"}, &syscall.ProcAttr{
		Sys: &syscall.SysProcAttr{Setpgid: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	waitZombie(t, pid)
	took := ReapOrphans()
	if len(took) != 1 || took[0] != (Orphan{Pid: pid, Exit: Exit{Code: 4}}) {
		t.Fatalf("reaped %v, want pid %d with status 4", took, pid)
	}
	if isZombie(pid) {
		t.Fatalf("pid %d is still a zombie", pid)
	}
}

// A command that poold reaps itself (an exec probe or hook: os/exec,
// a process group of its own) keeps its exit for its own Wait: the
// orphan reaper, passing while it is a zombie, leaves it alone.
func TestOrphanReaperLeavesKeptCommands(t *testing.T) {
	c := exec.Command("/bin/sh", "-c", "exit 3")
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	done, err := StartKept(c)
	if err != nil {
		t.Fatal(err)
	}
	defer done()
	waitZombie(t, c.Process.Pid)
	if took := ReapOrphans(); len(took) > 0 {
		t.Fatalf("the orphan reaper took %v, the exit of a command its starter reaps", took)
	}
	err = c.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("Wait of the command: %v, want exit status 3", err)
	}
}

// KeepUnregistered leaves out of a list of poold's children the commands
// started through StartKept (and the workers), keeping the rest in order.
func TestKeepUnregistered(t *testing.T) {
	c := exec.Command("/bin/sleep", "3600")
	done, err := StartKept(c)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Process.Kill(); _ = c.Wait(); done() }()
	other := 1 << 30 // no process of this test's
	if got := KeepUnregistered([]int{other, c.Process.Pid, other + 1}); !slices.Equal(got, []int{other, other + 1}) {
		t.Errorf("KeepUnregistered: %v, want [%d %d] without the kept command %d", got, other, other+1, c.Process.Pid)
	}
}
