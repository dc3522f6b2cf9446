package spawn

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Exit notification. A worker's exit must reach poold without an OS thread
// per live worker: a thread blocked in wait4 or waitid for each child
// means 1,500 threads for 1,500 workers, and under a cgroup pids limit
// (Docker --pids-limit, Kubernetes, systemd TasksMax) the Go runtime
// aborts the whole of poold when it cannot create one more.
//
// So each worker comes with a pidfd, returned by the clone that created it
// (SysProcAttr.PidFD). It refers to that process and no other, for as long
// as poold keeps it open, whatever happens to the pid. Wait puts it in
// non-blocking mode and parks on the Go netpoller until the kernel marks
// it readable (the process ended), then reaps exactly that child with
// waitid(P_PIDFD, fd, WEXITED|WNOHANG). A goroutine parked in the
// netpoller holds no thread.
//
// Nothing else reaps these children: the spawner forks through
// syscall.StartProcess, so the os package never sees them (no os.Process,
// no pidfd of its own, no Wait), and poold never calls wait4(-1). Their
// pid stays theirs until Wait reaps them, even as zombies.
//
// Where pidfds do not work (Linux before 5.4, a seccomp filter that
// refuses them), Wait falls back to wait4 on the child's pid, which blocks
// one thread per worker as before; Proc.Fallback says why.

// Exit is how a worker ended.
type Exit struct {
	Code   int            // its exit status, 0-255, when Signal is 0
	Signal syscall.Signal // the signal that killed it; 0 if it exited
	Core   bool           // it dumped core
}

// Status is the exit as poold reports it: the exit code, or minus the
// number of the signal that killed the worker.
func (e Exit) Status() int {
	if e.Signal != 0 {
		return -int(e.Signal)
	}
	return e.Code
}

func (e Exit) String() string {
	if e.Signal == 0 {
		return "exit status " + strconv.Itoa(e.Code)
	}
	s := "signal: " + e.Signal.String()
	if e.Core {
		s += " (core dumped)"
	}
	return s
}

func exitOf(ws syscall.WaitStatus) Exit {
	if ws.Signaled() {
		return Exit{Signal: ws.Signal(), Core: ws.CoreDump()}
	}
	return Exit{Code: ws.ExitStatus()}
}

// Proc is a worker the spawner started. Its owner must call Wait once:
// that reaps the process and releases what watches it.
type Proc struct {
	Pid      int
	pidfd    *os.File // nil: wait4 on the pid
	fallback error    // why there is no pidfd
}

// newProc watches the child pid through pidfd, or, when pidfd is -1,
// through its pid, giving why as the reason.
func newProc(pid, pidfd int, why error) *Proc {
	p := &Proc{Pid: pid, fallback: why}
	if pidfd < 0 {
		if why == nil {
			p.fallback = errors.New("clone(CLONE_PIDFD) returned no pidfd")
		}
		return p
	}
	// Non-blocking before os.NewFile, which then registers the fd with
	// the netpoller instead of treating it as a blocking file.
	if err := unix.SetNonblock(pidfd, true); err != nil {
		p.fallback = fmt.Errorf("pidfd of pid %d: set non-blocking: %w", pid, err)
	}
	p.pidfd = os.NewFile(uintptr(pidfd), "pidfd:"+strconv.Itoa(pid))
	return p
}

// Fallback is nil when the exit of p is watched through a pidfd in the
// netpoller, and otherwise says why a thread waits for it.
func (p *Proc) Fallback() error { return p.fallback }

// Wait blocks until the process has ended, reaps it and returns how it
// ended. Call it once, from one goroutine; it holds an OS thread only in
// the fallback (see Fallback).
func (p *Proc) Wait() (Exit, error) {
	if p.pidfd == nil {
		ex, err := waitPid(p.Pid)
		reaper.mu.Lock()
		delete(reaper.workers, p.Pid)
		reaper.mu.Unlock()
		return ex, err
	}
	defer p.pidfd.Close()
	rc, err := p.pidfd.SyscallConn()
	if err != nil {
		return Exit{}, fmt.Errorf("wait for pid %d: %w", p.Pid, err)
	}
	var (
		ex   Exit
		werr error
	)
	err = rc.Read(func(fd uintptr) bool {
		var done bool
		// Unregistered as it is reaped: its pid may be an orphan's next.
		reaper.mu.Lock()
		ex, done, werr = reap(int(fd), unix.WNOHANG)
		if done || werr != nil {
			delete(reaper.workers, p.Pid)
		}
		reaper.mu.Unlock()
		return done || werr != nil
	})
	if err != nil {
		// Not in the netpoller after all (the non-blocking flag or the
		// epoll registration failed): wait on a thread instead.
		err = rc.Control(func(fd uintptr) {
			if werr = unix.SetNonblock(int(fd), false); werr == nil {
				ex, _, werr = reap(int(fd), 0)
			}
		})
		reaper.mu.Lock()
		delete(reaper.workers, p.Pid)
		reaper.mu.Unlock()
	}
	if err == nil {
		err = werr
	}
	if err != nil {
		return Exit{}, fmt.Errorf("wait for pid %d: %w", p.Pid, err)
	}
	return ex, nil
}

// reap collects the child of pidfd if it has ended, or, without WNOHANG in
// opts, once it has (the fd must then be blocking). done is false while it
// still runs.
func reap(pidfd, opts int) (ex Exit, done bool, err error) {
	var info unix.Siginfo
	for {
		err = unix.Waitid(unix.P_PIDFD, pidfd, &info, unix.WEXITED|opts, nil)
		if err != unix.EINTR {
			break
		}
	}
	switch {
	case err == unix.EAGAIN:
		return Exit{}, false, nil // a non-blocking pidfd: still running
	case err != nil:
		return Exit{}, false, fmt.Errorf("waitid(P_PIDFD): %w", err)
	case info.Signo == 0:
		return Exit{}, false, nil // WNOHANG: still running
	}
	code, status := childStatus(&info)
	switch code {
	case cldExited:
		return Exit{Code: int(status)}, true, nil
	case cldKilled:
		return Exit{Signal: syscall.Signal(status)}, true, nil
	case cldDumped:
		return Exit{Signal: syscall.Signal(status), Core: true}, true, nil
	}
	return Exit{}, true, fmt.Errorf("waitid(P_PIDFD): unexpected si_code %d", code)
}

// The si_code of a child that ended (<asm-generic/siginfo.h>).
const (
	cldExited = 1
	cldKilled = 2
	cldDumped = 3
)

// childStatus reads si_code and si_status of a SIGCHLD siginfo. x/sys/unix
// names the first three fields in each architecture's order and leaves the
// union opaque; for a child it begins, aligned as a pointer, with si_pid,
// si_uid and si_status, three 32-bit fields.
func childStatus(info *unix.Siginfo) (code int32, status int32) {
	const ptr = unsafe.Sizeof(uintptr(0))
	union := (3*4 + ptr - 1) &^ (ptr - 1)
	fields := (*[3]int32)(unsafe.Add(unsafe.Pointer(info), union))
	return info.Code, fields[2]
}

// waitPid is the fallback: wait4 on the child's own pid (never -1), which
// blocks this goroutine's thread until the child ends.
func waitPid(pid int) (Exit, error) {
	var ws syscall.WaitStatus
	for {
		_, err := syscall.Wait4(pid, &ws, 0, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return Exit{}, fmt.Errorf("wait for pid %d: wait4: %w", pid, err)
		}
		return exitOf(ws), nil
	}
}

// checkPidfd tells whether this kernel lets poold watch children through
// pidfds: pidfd_open (Linux 5.3) and waitid(P_PIDFD) (5.4), which, asked
// about poold itself, must answer "not your child".
func checkPidfd() error {
	fd, err := unix.PidfdOpen(os.Getpid(), 0)
	if err != nil {
		return fmt.Errorf("pidfd_open: %w (needs Linux 5.3, and no seccomp filter against it)", err)
	}
	defer unix.Close(fd)
	var info unix.Siginfo
	err = unix.Waitid(unix.P_PIDFD, fd, &info, unix.WEXITED|unix.WNOHANG, nil)
	if err != unix.ECHILD {
		return fmt.Errorf("waitid(P_PIDFD) on poold's own pidfd: got %v, want ECHILD (needs Linux 5.4)", err)
	}
	return nil
}
