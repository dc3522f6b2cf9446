package spawn

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/watcher/proctest"
	"golang.org/x/sys/unix"
)

// runOnMain serves s with RunOnMain on the test binary's main thread
// until the test ends.
func runOnMain(t *testing.T, s *Spawner) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go onMainThread(func() { ran <- s.RunOnMain(ctx) })
	t.Cleanup(func() {
		cancel()
		if err := <-ran; err != nil {
			t.Errorf("RunOnMain: %v", err)
		}
	})
}

// subreaper makes this test process the subreaper of its children's
// orphans until the test ends.
func subreaper(t *testing.T) {
	t.Helper()
	if err := BecomeSubreaper(); err != nil {
		t.Fatalf("PR_SET_CHILD_SUBREAPER: %v", err)
	}
	t.Cleanup(func() { _ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0) })
}

// leaveOrphan starts a worker that starts a child blocked reading fd 3
// (then exiting with code) and exits, leaving that child to poold, and
// returns its pid and the pipe end whose close ends it.
func leaveOrphan(t *testing.T, s *Spawner, code int) (int, *os.File) {
	t.Helper()
	rd, wr, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	out, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	script := fmt.Sprintf(`sh -c 'read x <&3; exit %d' & echo $!`, code)
	p, err := s.Start(ProcSpec{Path: "/bin/sh", Argv: []string{"sh", "-c", script}, Files: []*os.File{rd}, Stdout: outW, Umask: -1})
	outW.Close()
	if err != nil {
		wr.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { wr.Close() })
	if ex, err := waitFor(t, p); err != nil || ex != (Exit{}) {
		t.Fatalf("worker %d: %v, %v; want exit status 0", p.Pid, ex, err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("worker %d wrote no pid: %v", p.Pid, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("worker %d wrote %q", p.Pid, line)
	}
	return pid, wr
}

// reaped waits until pid is gone: reaped by someone.
func reaped(t *testing.T, pid int) {
	t.Helper()
	proctest.Eventually(t, fmt.Sprintf("pid %d reaped", pid), func() bool {
		return syscall.Kill(pid, 0) == syscall.ESRCH
	})
}

// On the main thread, where a subreaper's orphans go, the spawner reaps
// them too: kept until ReportOrphans (an Adopt after an upgrade may claim
// one), then reported, and reported as they come from then on. Adopt
// takes a child of the main thread that is running, or one that ended
// and was kept, and refuses a pid that is no child of it.
func TestSpawnerOnTheMainThreadReapsOrphansAndAdopts(t *testing.T) {
	subreaper(t)
	s := New(self(t))
	runOnMain(t, s)

	kept, keptEnd := leaveOrphan(t, s, 6)
	claimed, claimedEnd := leaveOrphan(t, s, 7)
	running, runningEnd := leaveOrphan(t, s, 8)
	keptEnd.Close()
	claimedEnd.Close()
	reaped(t, kept)
	reaped(t, claimed)

	p, err := s.Adopt(claimed)
	if err != nil {
		t.Fatalf("Adopt(%d), ended during the 'exec': %v", claimed, err)
	}
	if ex, err := waitFor(t, p); err != nil || ex != (Exit{Code: 7}) {
		t.Errorf("adopted pid %d: Wait = %v, %v; want exit status 7", claimed, ex, err)
	}
	q, err := s.Adopt(running)
	if err != nil {
		t.Fatalf("Adopt(%d), running: %v", running, err)
	}
	runningEnd.Close()
	if ex, err := waitFor(t, q); err != nil || ex != (Exit{Code: 8}) {
		t.Errorf("adopted pid %d: Wait = %v, %v; want exit status 8", running, ex, err)
	}
	if _, err := s.Adopt(os.Getpid()); err == nil || !strings.Contains(err.Error(), "not a child") {
		t.Errorf("Adopt of this process: %v, want 'not a child'", err)
	}

	orphans := make(chan Orphan, 4)
	if !s.ReportOrphans(func(o Orphan) { orphans <- o }) {
		t.Fatal("ReportOrphans on the main thread = false, want true")
	}
	if o := nextOrphan(t, orphans); o != (Orphan{Pid: kept, Exit: Exit{Code: 6}}) {
		t.Errorf("kept orphan reported as %v, want pid %d with exit status 6", o, kept)
	}
	later, laterEnd := leaveOrphan(t, s, 9)
	laterEnd.Close()
	if o := nextOrphan(t, orphans); o != (Orphan{Pid: later, Exit: Exit{Code: 9}}) {
		t.Errorf("orphan reported as %v, want pid %d with exit status 9", o, later)
	}
}

// A spawner not on the main thread leaves orphans to an OrphanReaper.
func TestSpawnerOffTheMainThreadLeavesOrphans(t *testing.T) {
	r := runSpawner(t, "")
	if r.Spawner.ReportOrphans(func(Orphan) {}) {
		t.Error("ReportOrphans off the main thread = true, want false")
	}
}

// A thread that forked a child before it became a spawner's (os/exec
// forks from any thread) has that child on its list too. The spawner
// leaves it to whoever started it, and still reaps its own workers.
func TestSpawnerLeavesChildrenItDidNotStart(t *testing.T) {
	s := New(self(t))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	forked := make(chan int, 1)
	ran := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // Run locks again: the same thread
		defer runtime.UnlockOSThread()
		pid, err := syscall.ForkExec("/bin/sh", []string{"sh", "-c", "exit 3"}, &syscall.ProcAttr{})
		if err != nil {
			forked <- 0
			ran <- err
			return
		}
		forked <- pid
		ran <- s.Run(ctx)
	}()
	foreign := <-forked
	if foreign == 0 {
		t.Fatalf("fork: %v", <-ran)
	}
	waitZombie(t, foreign)
	p, err := s.Start(ProcSpec{Path: "/bin/sh", Argv: []string{"sh", "-c", "exit 5"}, Umask: -1})
	if err != nil {
		t.Fatal(err)
	}
	if ex, err := waitFor(t, p); err != nil || ex != (Exit{Code: 5}) {
		t.Errorf("worker %d: Wait = %v, %v; want exit status 5", p.Pid, ex, err)
	}
	if !isZombie(foreign) {
		t.Fatalf("the spawner reaped pid %d, a child it did not start", foreign)
	}
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(foreign, &ws, 0, nil); err != nil || ws.ExitStatus() != 3 {
		t.Errorf("pid %d: wait4 = %v, status %d; want its own status 3", foreign, err, ws.ExitStatus())
	}
	cancel()
	if err := <-ran; err != nil {
		t.Errorf("Run: %v", err)
	}
}

// A child that ended before the spawner began to serve (during an
// upgrade's exec, the new image's) raises no SIGCHLD again: the spawner
// looks for such children as it starts.
func TestSpawnerReapsWhatEndedBeforeItServed(t *testing.T) {
	var pid int
	var err error
	onMainThread(func() {
		pid, err = syscall.ForkExec("/bin/sh", []string{"sh", "-c", "exit 4"}, &syscall.ProcAttr{})
	})
	if err != nil {
		t.Fatal(err)
	}
	waitZombie(t, pid)
	s := New(self(t))
	runOnMain(t, s)
	orphans := make(chan Orphan, 1)
	if !s.ReportOrphans(func(o Orphan) { orphans <- o }) {
		t.Fatal("ReportOrphans on the main thread = false, want true")
	}
	if o := nextOrphan(t, orphans); o != (Orphan{Pid: pid, Exit: Exit{Code: 4}}) {
		t.Errorf("reported %v, want pid %d with exit status 4", o, pid)
	}
}

// nextOrphan is the next orphan reported on ch, bounded by hang.
func nextOrphan(t *testing.T, ch <-chan Orphan) Orphan {
	t.Helper()
	select {
	case o := <-ch:
		return o
	case <-time.After(hang):
		t.Fatalf("no orphan reported within %v", hang)
		return Orphan{}
	}
}

// waitFor is p.Wait, bounded by hang.
func waitFor(t *testing.T, p *Proc) (Exit, error) {
	t.Helper()
	select {
	case <-p.done:
		return p.Wait()
	case <-time.After(hang):
		t.Fatalf("pid %d not reaped within %v", p.Pid, hang)
		return Exit{}, nil
	}
}
