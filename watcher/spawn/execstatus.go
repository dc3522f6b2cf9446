package spawn

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The exec status pipe. A direct exec that fails fails Start (Go's fork
// reports the exec's errno through a close-on-exec pipe). An exec step
// (the stub or the shim) execs the worker's program itself, after Go's
// fork has returned: so that a failure there fails Start too, rather
// than starting a worker that exits 127 at once, the step gets the write
// end of a close-on-exec pipe of its own, at the fd after its others. A
// good exec closes it (EOF, nothing read); a failed one writes the errno
// (4 bytes, native order; 0 when the failure had none) and, from the
// shim, the reason as text, then exits 127. The reading is done by
// Pending.Wait, on the caller's goroutine, so the spawner's thread does
// not wait for the step. The /bin/sh step gets no pipe (a shell cannot
// make an inherited fd close-on-exec): its failure is still exit 127.

// execStatusWait bounds the wait for a step's exec: the shim's start-up
// takes about 5 ms, 50 on a loaded machine.
const execStatusWait = time.Second

// execStatus is the read end of a started worker's status pipe.
type execStatus struct {
	fd     int           // read end, close-on-exec, non-blocking; not in the netpoller
	worker string        // the worker's path
	step   string        // "poold's exec stub", "poold's exec shim"
	bound  time.Duration // execStatusWait, but for tests (Spawner.statusWait)
}

// newStatusPipe makes the pipe for a start through step: the read end,
// close-on-exec, and the write end's fd, which the fork hands to the
// child and the caller then closes. Neither end is an os.File: the write
// end as one cost every start an epoll_ctl to add it, one to remove it
// and a fcntl; the read end becomes one only when wait has to wait.
// bound replaces execStatusWait when above 0 (tests).
func newStatusPipe(worker, step string, bound time.Duration) (*execStatus, int, error) {
	var fds [2]int
	if err := syscall.Pipe2(fds[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		return nil, -1, fmt.Errorf("start %s: exec status pipe: %w (is poold out of fds? raise its nofile limit)", worker, err)
	}
	if bound <= 0 {
		bound = execStatusWait
	}
	return &execStatus{fd: fds[0], worker: worker, step: step, bound: bound}, fds[1], nil
}

// errStubLate is a start given up because the stub did not say within
// execStatusWait that its own exec was over (stubStarted).
var errStubLate = errors.New("the stub did not start")

// stubStarted waits, on the spawner's thread, for the byte the exec stub
// writes once its own exec is over, before it waits for poold to set the
// worker's attributes (letGo). The stub is past the point of no return of
// that exec by then (Go's fork has returned), so this takes the rest of
// its loading, some microseconds, unless the machine is overloaded or the
// stub was stopped: bounded by execStatusWait, after which the start is
// given up rather than let the worker run without its limits.
func (st *execStatus) stubStarted() error {
	deadline := time.Now().Add(st.bound)
	var b [1]byte
	for {
		n, err := syscall.Read(st.fd, b[:])
		switch {
		case n == 1:
			return nil
		case err == nil: // end of file: the stub has ended
			return errors.New("the stub ended before poold could set the worker's rlimits, nice, oom_score_adj and cgroup v1 membership (was it killed?)")
		case err != syscall.EAGAIN && err != syscall.EINTR:
			return fmt.Errorf("read the stub's start from its status pipe: %w", err)
		}
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("%w within %v, so poold could not set the worker's "+
				"rlimits, nice, oom_score_adj and cgroup v1 membership: start given up (is the machine overloaded, or was the process stopped?)",
				errStubLate, st.bound)
		}
		fds := []unix.PollFd{{Fd: int32(st.fd), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, int(left/time.Millisecond)+1); err != nil && err != unix.EINTR {
			return fmt.Errorf("wait for the stub's start on its status pipe: %w", err)
		}
	}
}

// close closes the read end, for a start given up before wait.
func (st *execStatus) close() { _ = syscall.Close(st.fd) }

// wait returns nil once the worker's program was exec'd, or why the step
// could not exec it; then the step's process has exited and p is reaped.
func (st *execStatus) wait(p *Proc) error {
	var buf [1024]byte
	// Most often the step is done by now (4 of 5 tiny workers of a spawn
	// of 3,000): one read of the end of file tells, with no poller.
	n, err := syscall.Read(st.fd, buf[:])
	if err == nil && n == 0 {
		st.close()
		return nil
	}
	if err != nil {
		if err != syscall.EAGAIN && err != syscall.EINTR {
			st.close()
			return fmt.Errorf("start %s: read the exec status from %s: %w", st.worker, st.step, err)
		}
		n = 0
	}
	// Not yet, or a failure's first bytes: the rest in the netpoller,
	// where the goroutine parks rather than hold a thread in read(2) for
	// the shim's whole start-up.
	f := os.NewFile(uintptr(st.fd), "exec-status")
	defer f.Close()
	// Bounded: the caller is poold's loop, and a step stalled before its
	// exec (a hung mount, a stopped process) must not stall poold. Past
	// the bound the worker counts as started, and a failure of that exec
	// shows as its exit 127.
	_ = f.SetReadDeadline(time.Now().Add(st.bound))
	for n < len(buf) {
		k, err := f.Read(buf[n:])
		n += k
		if err == io.EOF || (errors.Is(err, os.ErrDeadlineExceeded) && n > 0) {
			break
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("start %s: read the exec status from %s: %w", st.worker, st.step, err)
		}
	}
	if n == 0 {
		return nil
	}
	return st.failed(p, buf[:n])
}

// failed is the error of a step that wrote msg: its errno, then from the
// shim the reason as text. p, which exits 127 right after, is reaped.
func (st *execStatus) failed(p *Proc, msg []byte) error {
	_, _ = p.Wait() // the step exits 127 right after writing
	var errno syscall.Errno
	if len(msg) >= 4 {
		errno = syscall.Errno(binary.NativeEndian.Uint32(msg[:4]))
		msg = msg[4:]
	}
	fail := &execFailure{msg: string(msg), errno: errno}
	if fail.msg == "" { // from the stub: the errno alone
		fail.msg = "exec: " + errno.Error()
	}
	if !strings.HasPrefix(fail.msg, "exec: ") {
		// The shim could not set an attribute (its working_dir, its
		// user): its message names it, and what to do; the hints of
		// execError are about cmd.
		return fmt.Errorf("start %s: %s: %w", st.worker, st.step, fail)
	}
	return execError(st.worker, st.step, fail)
}

// execFailure is what a step wrote: its reason, and the errno in it for
// errors.Is.
type execFailure struct {
	msg   string
	errno syscall.Errno // 0: none
}

func (e *execFailure) Error() string { return e.msg }

func (e *execFailure) Unwrap() error {
	if e.errno == 0 {
		return nil
	}
	return e.errno
}

// execError says that step could not start the worker, and what to do
// for the usual causes.
func execError(worker, step string, err error) error {
	hint := ""
	switch {
	case errors.Is(err, syscall.EAGAIN):
		hint = " (the worker's user has as many processes as its RLIMIT_NPROC allows: " +
			"raise the watcher's rlimits nproc or the user's limit, or run fewer of its processes)"
	case errors.Is(err, syscall.ENOENT):
		hint = " (is cmd's path right, inside chroot when one is set?)"
	case errors.Is(err, syscall.ENOEXEC):
		hint = " (cmd is no program for this machine: a script needs a #! line naming its interpreter)"
	case errors.Is(err, syscall.EACCES):
		hint = " (may the worker's user read and execute cmd, and enter every directory on its path?)"
	}
	return fmt.Errorf("start %s: %s: %w%s", worker, step, err, hint)
}
