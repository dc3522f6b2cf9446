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

// leftByDeadWorker starts a worker (a sleep leading its own process
// group) and, in its group, a shell running script, which waits for a
// line on in; then it kills and reaps the worker: the group's number,
// pgid, is held by the shell alone.
func leftByDeadWorker(t *testing.T, script string) (pgid int, left *exec.Cmd, in io.WriteCloser) {
	t.Helper()
	sh := proctest.Tool(t, "/bin/sh", "dash")
	worker := inGroup(t, 0, "sleep", "300")
	pgid = worker.Process.Pid
	left = exec.Command(sh, "-c", script)
	left.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pgid: pgid}
	in, err := left.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := left.Start(); err != nil {
		t.Fatal(err)
	}
	_ = worker.Process.Kill()
	_ = worker.Wait()
	return pgid, left, in
}

// What a dead worker left in its process group is what poold signals,
// and nothing it cannot prove is: one there when the worker was reaped
// and started after it, and, while one of those is still in the group
// (so that the group's number is not free for a new process), every
// process that joins the group; but not one that started before the
// worker. A process the drain cannot prove is named at its end, not
// signalled.
func TestGroupDrainTakesOnlyWhatItCanProve(t *testing.T) {
	since := procinfo.BootTicks()
	pgid, left, in := leftByDeadWorker(t, "read x; sleep 300 & wait")
	t.Cleanup(func() { _ = left.Process.Kill(); _ = left.Wait() })

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

	// One joins the group while what the worker left is in it: the
	// group is still the worker's (a stop's kill of the group would
	// reach it too); and what left forks is.
	joiner := inGroup(t, pgid, "sleep", "300")
	if _, err := io.WriteString(in, "go\n"); err != nil {
		t.Fatal(err)
	}
	proctest.Eventually(t, "the joiner and what left forked to be taken", func() bool {
		d.sweep()
		return len(d.procs) >= 3
	})
	if _, ok := d.procs[joiner.Process.Pid]; !ok {
		t.Fatalf("took %v, not %d, which joined the group while what the worker left was in it", d.procs, joiner.Process.Pid)
	}
	if n := d.kill(); n != 3 {
		t.Errorf("kill counted %d running, want 3", n)
	}
	_ = left.Wait() // reaped: a zombie holds the group's number, and the drain waits for its reap
	_ = joiner.Wait()
	proctest.Eventually(t, "what the worker left to end", func() bool { return !d.sweep() })
	if rest := d.unproven(); len(rest) != 0 {
		t.Errorf("the group still has %v", rest)
	}
}

// A process in the group that the drain cannot prove the worker's (its
// parent ended and was reaped by another, not poold, before any look
// saw the two together) is left alone, and named at the drain's end,
// which then does not say that all has ended.
func TestGroupDrainNamesWhatItCannotProve(t *testing.T) {
	since := procinfo.BootTicks()
	pgid, left, in := leftByDeadWorker(t, "read x; sleep 300 & exit 0")
	d := newGroupDrain(pgid, since)
	if d == nil {
		t.Fatal("newGroupDrain took nothing of what the worker left")
	}
	defer d.close()
	if _, err := io.WriteString(in, "go\n"); err != nil {
		t.Fatal(err)
	}
	_ = left.Wait() // reaped here, by its parent, unseen by the drain
	var rest []int
	proctest.Eventually(t, "the drain to end, and its group to hold the sleep", func() bool {
		rest = d.unproven()
		return !d.sweep() && len(rest) == 1
	})
	t.Cleanup(func() { _ = syscall.Kill(rest[0], syscall.SIGKILL) })
	if len(d.procs) != 0 || !proctest.Alive(rest[0]) {
		t.Errorf("the drain took %v, and the sleep %d is alive: %v; want none taken, and the sleep left alone", d.procs, rest[0], proctest.Alive(rest[0]))
	}
}
