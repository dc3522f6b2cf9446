package handover

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/poold/poold/watcher/proctest"
	"golang.org/x/sys/unix"
)

// mainCall is the system call pid's main thread is blocked in, -1 if
// none (running, or unreadable).
func mainCall(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/syscall", pid))
	f := strings.Fields(string(b))
	if err != nil || len(f) == 0 {
		return -1
	}
	nr, err := strconv.Atoi(f[0])
	if err != nil {
		return -1
	}
	return nr
}

// The quick look answers Listening for a main thread blocked in
// epoll_wait on a set that watches the socket (also one whose fdinfo
// takes more than one small read) or in accept on it, and leaves every
// other case to the full look, which it must never contradict.
func TestQuickLookSeesOnlyAMainThreadWaitingOnTheSocket(t *testing.T) {
	for _, tc := range []struct {
		mode  string
		calls map[int]bool // what its main thread ends up blocked in
		want  bool
	}{
		{"epoll", epollCalls, true},
		{"epoll-many", epollCalls, true},
		{"accept", acceptCalls, true},
		{"other-epoll", epollCalls, false},
		{"select", selectCalls, false},
		{"poll", pollCalls, false},
		{"child-epoll", nil, false}, // its child waits: the full look's
		// The main thread on a futex, another one waiting.
		{"thread-epoll", futexCall, true},
		{"thread-accept", futexCall, true},
		{"thread-other-epoll", futexCall, false},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			w := startWorker(t, tc.mode)
			pid := w.cmd.Process.Pid
			if quickListening(pid, w.socks) {
				t.Fatal("quick look says listening while it reads its stdin")
			}
			w.goOn(t)
			threaded := strings.HasPrefix(tc.mode, "thread-")
			switch {
			case threaded && tc.want:
				// Python's main thread waits for the GIL on a futex
				// too, and runs a moment once the other one blocks:
				// the quick look sees it waiting once it joins.
				proctest.Eventually(t, "the quick look seeing its other thread wait", func() bool {
					return quickListening(pid, w.socks)
				})
			case threaded:
				proctest.Eventually(t, "its main thread on a futex, the other in the call of its mode", func() bool {
					return tc.calls[mainCall(pid)] && threadCalls(pid)[modeCalls[tc.mode]]
				})
			case tc.calls != nil:
				proctest.Eventually(t, "its main thread blocked in the call of its mode", func() bool {
					return tc.calls[mainCall(pid)]
				})
			default:
				proctest.Eventually(t, "its child waiting", func() bool {
					s, err := Look(pid, w.socks)
					return s == Listening && err == nil
				})
			}
			if got := quickListening(pid, w.socks); got != tc.want && !(threaded && tc.want) {
				t.Fatalf("quick look = %v, want %v", got, tc.want)
			}
			full, err := Look(pid, w.socks)
			if err != nil || (tc.want && full != Listening) {
				t.Fatalf("full look = %v, %v; the quick one said listening", full, err)
			}
		})
	}
}

var (
	futexCall = map[int]bool{unix.SYS_FUTEX: true}
	// modeCalls is what the other thread of a thread- mode blocks in.
	modeCalls = map[string]int{"thread-epoll": unix.SYS_EPOLL_PWAIT, "thread-accept": unix.SYS_ACCEPT4, "thread-other-epoll": unix.SYS_EPOLL_PWAIT}
)

// threadCalls is the set of calls the threads of pid but its main one
// are blocked in, any epoll_wait as epoll_pwait and any accept as
// accept4.
func threadCalls(pid int) map[int]bool {
	out := map[int]bool{}
	ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, e := range ents {
		if e.Name() == strconv.Itoa(pid) {
			continue
		}
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/syscall", pid, e.Name()))
		nr, _, ok := callAndFd(b)
		switch {
		case !ok:
		case epollCalls[nr]:
			out[unix.SYS_EPOLL_PWAIT] = true
		case acceptCalls[nr]:
			out[unix.SYS_ACCEPT4] = true
		default:
			out[nr] = true
		}
	}
	return out
}

// Wait's first looks leave out the full look while the worker's main
// thread runs (errRunning), the costly part of a look at a new worker
// still starting; a later look is the whole look, which sees a worker
// that computes with the socket in its epoll set, so Wait does too.
func TestEarlyLooksLeaveARunningWorker(t *testing.T) {
	w := startWorker(t, "spin-epoll")
	pid := w.cmd.Process.Pid
	w.goOn(t)
	w.expect(t, "spinning")
	if l, running := quickLook(pid, w.socks); l || !running {
		t.Fatalf("quick look of a spinning worker = listening %v, running %v; want false, true", l, running)
	}
	if s, _, _, err := look(pid, w.socks, true); !errors.Is(err, errRunning) {
		t.Fatalf("early look = %v, %v; want %v", s, err, errRunning)
	}
	if s, _, _, err := look(pid, w.socks, false); s != Listening || err != nil {
		t.Fatalf("full look = %v, %v; want listening (its epoll set holds the socket)", s, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	if s, err := Wait(ctx, pid, w.socks, hang); s != Listening || err != nil {
		t.Fatalf("Wait = %v, %v; want listening", s, err)
	}
}

func TestQuickLookOfAGonePidIsNotListening(t *testing.T) {
	w := startWorker(t, "exit")
	w.goOn(t)
	if err := w.cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if quickListening(w.cmd.Process.Pid, w.socks) {
		t.Fatal("quick look says a reaped pid listens")
	}
}

func TestCallAndFd(t *testing.T) {
	for _, tc := range []struct {
		in     string
		nr, fd int
		ok     bool
	}{
		{"232 0x4 0x7ffd5c1 0x1 0xffffffff 0x0 0x0 0x7ffd5b0 0x7f01\n", 232, 4, true},
		{"43 0x3 0x0 0x0 0x0 0x0 0x0 0x7ffd 0x7f01\n", 43, 3, true},
		{"running\n", 0, 0, false},
		{"-1 0x7ffd 0x7f01\n", 0, 0, false},
		{"", 0, 0, false},
		{"232 0xfffffffffffff 0x0\n", 0, 0, false},
	} {
		nr, fd, ok := callAndFd([]byte(tc.in))
		if nr != tc.nr || fd != tc.fd || ok != tc.ok {
			t.Errorf("callAndFd(%q) = %d, %d, %v; want %d, %d, %v", tc.in, nr, fd, ok, tc.nr, tc.fd, tc.ok)
		}
	}
	for in, want := range map[string]bool{futexNr + " 0x7f01a2 0x80 0x0 0x0": true, "232 0x4 0x0": false, "running": false, "": false} {
		if got := futexWait([]byte(in)); got != want {
			t.Errorf("futexWait(%q) = %v", in, got)
		}
	}
	for in, want := range map[string]uint64{"socket:[123]": 123, "pipe:[5]": 0, "socket:[x]": 0, "socket:[7": 0} {
		if got, ok := socketInode([]byte(in)); got != want || ok != (want != 0) {
			t.Errorf("socketInode(%q) = %d, %v", in, got, ok)
		}
	}
}

// BenchmarkLook is one look at a worker blocked in epoll_wait on its
// socket (the look that finds a new worker waiting) and at one that is
// not waiting on it yet (it reads its stdin).
func BenchmarkLook(b *testing.B) {
	for _, mode := range []string{"epoll", "busy", "thread-epoll", "running", "running-early"} {
		b.Run(mode, func(b *testing.B) {
			start := mode
			switch mode {
			case "busy":
				start = "epoll" // not told to go on: it reads its stdin
			case "running", "running-early":
				start = "spin-epoll"
			}
			w := startWorker(b, start)
			pid := w.cmd.Process.Pid
			want := Busy
			switch mode {
			case "epoll":
				w.goOn(b)
				want = Listening
				proctest.Eventually(b, "it waits", func() bool { return epollCalls[mainCall(pid)] })
			case "thread-epoll":
				w.goOn(b)
				want = Listening
				proctest.Eventually(b, "its other thread waits", func() bool { return threadCalls(pid)[unix.SYS_EPOLL_PWAIT] })
			case "running", "running-early":
				w.goOn(b)
				w.expect(b, "spinning")
				want = Listening // the full look sees its epoll set
			}
			b.ResetTimer()
			if mode == "running-early" {
				// One of Wait's first looks at a worker that runs: the
				// quick look only (earlyLooks).
				for b.Loop() {
					if _, _, _, err := look(pid, w.socks, true); !errors.Is(err, errRunning) {
						b.Fatalf("early look = %v; want %v", err, errRunning)
					}
				}
				return
			}
			for b.Loop() {
				if s, err := Look(pid, w.socks); s != want || err != nil {
					b.Fatalf("Look = %v, %v; want %v", s, err, want)
				}
			}
		})
	}
}

// BenchmarkQuickLook is the quick look that finds a new worker waiting,
// on its main thread and on another thread. It runs once for every worker
// poold starts: at 10,000 workers its 5.5 KiB a look (a scanner's buffer,
// the read buffer on the heap) were a third of what a spawn allocated
// (issue 18); about 50 and 350 bytes now (make bench, -benchmem).
func BenchmarkQuickLook(b *testing.B) {
	for _, mode := range []string{"epoll", "thread-epoll"} {
		b.Run(mode, func(b *testing.B) {
			w := startWorker(b, mode)
			pid := w.cmd.Process.Pid
			w.goOn(b)
			proctest.Eventually(b, "the quick look seeing it wait", func() bool { return quickListening(pid, w.socks) })
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if !quickListening(pid, w.socks) {
					b.Fatal("the quick look lost the waiting worker")
				}
			}
		})
	}
}

// Wait's early looks at a worker that runs opened its /proc/PID/syscall
// at each look (an open, a read and a close; the open the dearest part
// on a loaded VM, issue 18). They now keep it open and read it again
// from 0: one open for all of them, and the file still tells each look
// what the thread does now.
func TestEarlyLooksOpenTheCallFileOnce(t *testing.T) {
	w := startWorker(t, "spin-epoll")
	pid := w.cmd.Process.Pid
	w.goOn(t)
	w.expect(t, "spinning")
	path := "/proc/" + strconv.Itoa(pid) + "/syscall"
	var opens atomic.Int32
	openProc = func(p string, mode int, perm uint32) (int, error) {
		if p == path {
			opens.Add(1)
		}
		return syscall.Open(p, mode, perm)
	}
	defer func() { openProc = syscall.Open }()
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	if s, err := Wait(ctx, pid, w.socks, hang); s != Listening || err != nil {
		t.Fatalf("Wait = %v, %v; want listening", s, err)
	}
	if n := opens.Load(); n != 1 {
		t.Errorf("Wait's %d early looks and the full one opened %s %d times, want once", earlyLooks, path, n)
	}
	if n := callFilesOpen.Load(); n != 0 {
		t.Errorf("%d call files left open after Wait", n)
	}
}

// A kept call file reads what the thread does at each read, not what
// it did when opened.
func TestCallFileReadsTheCallNow(t *testing.T) {
	cmd := exec.Command("/bin/sh", "-c", "read x; exec sleep 30")
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	cf := newCallFile(cmd.Process.Pid)
	defer cf.close()
	var buf [256]byte
	call := func() int {
		nr, _, _ := callAndFd(buf[:cf.read(buf[:], true)])
		return nr
	}
	proctest.Eventually(t, "sh blocked in read", func() bool { return call() == unix.SYS_READ })
	in.Write([]byte("go\n"))
	proctest.Eventually(t, "sleep blocked in clock_nanosleep", func() bool { return call() == unix.SYS_CLOCK_NANOSLEEP })
	if cf.fd < 0 {
		t.Error("the call file was not kept open")
	}
}

// BenchmarkCallFile is one read of a sleeping process's main-thread
// call as Wait's early looks made it (an open, a read and a close) and
// as they make it now (a pread of the kept file).
func BenchmarkCallFile(b *testing.B) {
	cmd := exec.Command("sleep", "600")
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	pid := cmd.Process.Pid
	var buf [1024]byte
	b.Run("open-each", func(b *testing.B) {
		path := "/proc/" + strconv.Itoa(pid) + "/syscall"
		for b.Loop() {
			if readSmall(path, buf[:]) == 0 {
				b.Fatal("nothing read")
			}
		}
	})
	b.Run("kept", func(b *testing.B) {
		cf := newCallFile(pid)
		defer cf.close()
		for b.Loop() {
			if cf.read(buf[:], true) == 0 {
				b.Fatal("nothing read")
			}
		}
	})
}
