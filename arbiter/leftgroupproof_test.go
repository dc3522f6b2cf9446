package arbiter

import (
	"io"
	"os/exec"
	"syscall"
	"testing"

	"github.com/poold/poold/watcher/procinfo"
	"github.com/poold/poold/watcher/proctest"
)

// inGroup starts argv in process group pgid (0: a group of its own) and
// kills it as the test ends.
func inGroup(t *testing.T, pgid int, argv ...string) *exec.Cmd {
	t.Helper()
	c := exec.Command(argv[0], argv[1:]...)
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pgid: pgid}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.Process.Kill()
		_ = c.Wait()
	})
	return c
}

// What a dead worker left in its process group is what poold signals,
// and nothing it cannot prove is: one there when the worker was reaped
// and started after it, and what those fork later, but not one that
// started before the worker, nor a process that joined the group's
// number after the reap from elsewhere.
func TestGroupDrainTakesOnlyWhatItCanProve(t *testing.T) {
	sh := proctest.Tool(t, "/bin/sh", "dash")
	since := procinfo.BootTicks()
	worker := inGroup(t, 0, "sleep", "300")
	pgid := worker.Process.Pid
	left := exec.Command(sh, "-c", "read x; sleep 300 & wait")
	left.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pgid: pgid}
	in, err := left.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := left.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = left.Process.Kill(); _ = left.Wait() })
	_ = worker.Process.Kill()
	_ = worker.Wait() // reaped: pgid is a number now, held by left

	// Of a worker that started after them, they are not.
	if d := newGroupDrain(pgid, procinfo.BootTicks()+1000); d != nil {
		d.close()
		t.Errorf("took processes that started before the worker")
	}
	d := newGroupDrain(pgid, since)
	if d == nil {
		t.Fatal("newGroupDrain took nothing of what the worker left")
	}
	defer d.close()
	if _, ok := d.procs[left.Process.Pid]; !ok || len(d.procs) != 1 {
		t.Fatalf("took %v, want only %d", d.procs, left.Process.Pid)
	}

	// A stranger joins the group's number after the reap; what left
	// forks now is its own.
	stranger := inGroup(t, pgid, "sleep", "300")
	if _, err := io.WriteString(in, "go\n"); err != nil {
		t.Fatal(err)
	}
	proctest.Eventually(t, "what left forked to be taken", func() bool {
		d.sweep()
		return len(d.procs) >= 2
	})
	if _, ok := d.procs[stranger.Process.Pid]; ok {
		t.Fatalf("took %d, which joined the group after the reap and is no child of what the worker left", stranger.Process.Pid)
	}
	if n := d.kill(); n != 2 {
		t.Errorf("kill counted %d running, want 2", n)
	}
	proctest.Eventually(t, "what the worker left to end", func() bool { return !d.sweep() })
	if !proctest.Alive(stranger.Process.Pid) {
		t.Errorf("the stranger %d was killed with what the worker left", stranger.Process.Pid)
	}
}
