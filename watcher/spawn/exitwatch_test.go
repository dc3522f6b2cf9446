package spawn

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/watcher/proctest"
	"golang.org/x/sys/unix"
)

// hinted runs a spawner whose exit watch starts with its first worker.
func hinted(t *testing.T, backstop time.Duration) *running {
	t.Helper()
	s := New(self(t))
	s.xwMin, s.backstopDelay = 1, backstop
	return runSpawnerOf(t, s)
}

func lookSh(t *testing.T) string {
	t.Helper()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatalf("no sh to play the workers: %v", err)
	}
	return sh
}

// With the exit watch running, every worker's exit, each its own, is
// reported exactly and found through its pidfd: no walk of the children
// at all (the backstop is an hour away). The pidfds cost this process's
// fd table nothing (testExits counts it). Once no worker is left, the
// watch's thread, epoll set and eventfd go.
func TestExitHintsReapWithoutAWalk(t *testing.T) {
	r := hinted(t, time.Hour)
	keep := start(t, r.Spawner, "hold", ProcSpec{}) // keeps the watch running
	if !r.hinting.Load() {
		t.Fatalf("no exit watch with a worker running: %v", r.xwErr)
	}
	fds := countFDs(t)
	walks := r.walks.Load()
	// Fewer than a buffer's worth of pidfds (256): more at once would be
	// a mass exit, which a walk reaps.
	testExits(t, r.Spawner, lookSh(t), 200, nil)
	if got := r.walks.Load(); got != walks {
		t.Errorf("%d walks of the children while 200 workers ended with hints, want none", got-walks)
	}
	if err := syscall.Kill(keep.p.Pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	keep.wait(t)
	if r.hinting.Load() {
		t.Error("the exit watch still runs once the last worker's exit is reported")
	}
	if now := countFDs(t); now != fds-2 {
		t.Errorf("%d fds open once the watch stopped, %d while it ran: want two fewer (its epoll set and eventfd)", now, fds)
	}
}

// The exit watch's thread has its own copy of the fd table, taken when it
// starts. A socket or pipe poold closes later must close for good: the
// copy holds neither (nor any file), only anonymous inodes such as the
// workers' pidfds.
func TestExitWatchTableKeepsNoSocketOrPipe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	rd, wr, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	defer wr.Close()
	r := hinted(t, time.Hour)
	c := start(t, r.Spawner, "hold", ProcSpec{})
	if !r.hinting.Load() {
		t.Fatalf("no exit watch with a worker running: %v", r.xwErr)
	}
	tid := r.xw.tid
	r.xw.flush() // one worker: no batch to wake the thread
	proctest.Eventually(t, fmt.Sprintf("worker %d's pidfd in the watch's fd table", c.p.Pid), func() bool {
		return pidfds(t, tid) > 0
	})
	for fd, target := range threadFDs(t, tid) {
		if fd > 2 && !strings.HasPrefix(target, "anon_inode:") {
			t.Errorf("the exit watch's fd table holds fd %d -> %s; want only anonymous inodes above fd 2", fd, target)
		}
	}
	addr := ln.Addr().String()
	ln.Close()
	again, err := net.Listen("tcp", addr)
	if err != nil {
		t.Errorf("listen on %s again after closing it: %v; a copy of the socket is still open", addr, err)
	} else {
		again.Close()
	}
	wr.Close()
	if err := rd.SetReadDeadline(time.Now().Add(hang)); err != nil {
		t.Fatal(err)
	}
	if n, err := rd.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("read of a pipe whose write end is closed: %d, %v; want EOF (a copy of the write end is still open)", n, err)
	}
	if err := syscall.Kill(c.p.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if ex := c.wait(t); ex != (Exit{Signal: syscall.SIGKILL}) {
		t.Errorf("worker %d: %v; want killed by SIGKILL", c.p.Pid, ex)
	}
}

// A worker that ends before the exit watch has its pidfd (the thread
// takes new pids in batches) is reaped at once all the same, through
// the pidfd found readable as it is registered: not by a walk, whose
// backstop is an hour away here.
func TestExitWatchReapsAWorkerThatEndedUnwatched(t *testing.T) {
	r := hinted(t, time.Hour)
	keep := start(t, r.Spawner, "hold", ProcSpec{}) // keeps the watch running
	if !r.hinting.Load() {
		t.Fatalf("no exit watch with a worker running: %v", r.xwErr)
	}
	walks := r.walks.Load()
	for range 3 {
		c := start(t, r.Spawner, "exit", ProcSpec{})
		if ex := c.wait(t); ex != (Exit{}) {
			t.Errorf("worker %d: %v; want exit status 0", c.p.Pid, ex)
		}
	}
	if got := r.walks.Load(); got != walks {
		t.Errorf("%d walks of the children, want none", got-walks)
	}
	if err := syscall.Kill(keep.p.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if ex := keep.wait(t); ex != (Exit{Signal: syscall.SIGKILL}) {
		t.Errorf("worker %d: %v; want killed by SIGKILL", keep.p.Pid, ex)
	}
}

// When the exit watch fails (here: no pidfd for the second worker, as
// when poold runs out of fds), the spawner says so once and goes back to
// a walk on each SIGCHLD: every exit is still reported, each its own.
func TestExitWatchFailureFallsBackToWalks(t *testing.T) {
	warned := make(chan string, 4)
	s := New(self(t))
	s.xwMin, s.backstopDelay = 1, time.Hour
	var calls atomic.Int32
	s.pidfdOpen = func(pid, flags int) (int, error) {
		if pid != os.Getpid() && calls.Add(1) > 1 { // the first worker's opens
			return -1, unix.EMFILE
		}
		return unix.PidfdOpen(pid, flags)
	}
	s.SetWarn(func(msg string, args ...any) { warned <- fmt.Sprint(append([]any{msg}, args...)...) })
	r := runSpawnerOf(t, s)
	walks := r.walks.Load()
	testExits(t, r.Spawner, lookSh(t), 50, nil)
	select {
	case msg := <-warned:
		if !strings.Contains(msg, "pidfd_open of worker pid") || !strings.Contains(msg, unix.EMFILE.Error()) {
			t.Errorf("warning %q; want it to name the pidfd_open that failed and why", msg)
		}
	default:
		t.Error("no warning that exit hints stopped")
	}
	if r.walks.Load() == walks {
		t.Error("no walk after the exit watch failed")
	}
}

// With hints, a worker's orphan (which has no pidfd) is still reaped and
// reported: by the backstop walk after its SIGCHLD.
func TestExitHintsLeaveOrphansToTheBackstop(t *testing.T) {
	subreaper(t)
	s := New(self(t))
	s.xwMin, s.backstopDelay = 1, 10*time.Millisecond
	runOnMain(t, s)
	keep := start(t, s, "hold", ProcSpec{}) // keeps the watch running
	orphans := make(chan Orphan, 4)
	if !s.ReportOrphans(func(o Orphan) { orphans <- o }) {
		t.Fatal("ReportOrphans on the main thread = false, want true")
	}
	pid, end := leaveOrphan(t, s, 9)
	if !s.hinting.Load() {
		t.Fatalf("no exit watch: %v", s.xwErr)
	}
	end.Close()
	if o := nextOrphan(t, orphans); o != (Orphan{Pid: pid, Exit: Exit{Code: 9}}) {
		t.Errorf("orphan reported as %v, want pid %d with exit status 9", o, pid)
	}
	if err := syscall.Kill(keep.p.Pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	keep.wait(t)
}

// pidfds counts the pidfds in the fd table of thread tid of this process.
func pidfds(t *testing.T, tid int) int {
	t.Helper()
	n := 0
	for _, target := range threadFDs(t, tid) {
		if target == "anon_inode:[pidfd]" {
			n++
		}
	}
	return n
}

// threadFDs is the fd table of thread tid of this process: each fd's
// target.
func threadFDs(t *testing.T, tid int) map[int]string {
	t.Helper()
	dir := fmt.Sprintf("/proc/self/task/%d/fd", tid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	fds := map[int]string{}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if target, err := os.Readlink(dir + "/" + e.Name()); err == nil {
			fds[fd] = target
		}
	}
	return fds
}
