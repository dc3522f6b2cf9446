package spawn

import (
	"fmt"
	"strconv"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Exit notification. A worker's exit must reach poold without an OS thread
// per live worker: a thread blocked in wait4 or waitid for each child
// means 1,500 threads for 1,500 workers, and under a cgroup pids limit
// (Docker --pids-limit, Kubernetes, systemd TasksMax) the Go runtime
// aborts the whole of poold when it cannot create one more. Nor may it
// cost an fd per worker: every fork copies poold's whole fd table and
// every exec closes it again, so a pidfd per worker makes each spawn cost
// O(workers), and starting 10,000 of them O(workers²) (see children.go).
//
// So the spawner's own thread reaps its children. Workers are forked
// from that one thread, and Linux keeps a list of children per thread:
// on SIGCHLD, the spawner asks waitid(P_ALL, __WNOTHREAD), which looks at
// that list alone, for each child that ended and reaps it. Children that
// other threads start (os/exec's health probes and hooks, which reap
// their own) are never on it. A Proc's Wait then only receives the
// exit: a goroutine parked on a channel, holding no thread; OnExit not
// even that, a function the spawner calls. It works on any Linux kernel.
// From exitWatchMin workers on, where that walk of the list costs more
// per exit, pidfds held in an fd table of their own say which child
// ended (exitwatch.go): one thread more, still no fd per worker in
// poold's table.
//
// Nothing else reaps these children: the spawner forks through
// syscall.StartProcess, so the os package never sees them (no os.Process,
// no Wait of its own), and poold never calls wait4(-1). Their pid stays
// theirs until the spawner reaps them, even as zombies.

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

// Proc is a worker the spawner started. Its owner must call Wait, which
// returns once the spawner has reaped the process, or OnExit.
type Proc struct {
	Pid  int
	done chan struct{} // closed once ex and err are set

	mu     sync.Mutex
	ex     Exit
	err    error
	onExit func(Exit, error)
}

func newProc(pid int) *Proc { return &Proc{Pid: pid, done: make(chan struct{})} }

// ended records how p ended, wakes Wait and calls the OnExit function;
// called once, by the spawner that reaped it.
func (p *Proc) ended(ex Exit, err error) {
	p.mu.Lock()
	p.ex, p.err = ex, err
	close(p.done)
	fn := p.onExit
	p.mu.Unlock()
	if fn != nil {
		fn(ex, err)
	}
}

// OnExit has fn called with how p ended once it has been reaped (at once
// if it has), instead of a Wait: nothing waits meanwhile, where a Wait
// parks a goroutine per worker for the worker's whole life (10,000
// stacks for the garbage collector to scan at 10,000 workers). fn runs on
// the spawner's goroutine: it must not block, so it starts what takes
// time. Call it once, and not beside Wait.
func (p *Proc) OnExit(fn func(Exit, error)) {
	p.mu.Lock()
	select {
	case <-p.done:
		p.mu.Unlock()
		fn(p.ex, p.err)
		return
	default:
	}
	p.onExit = fn
	p.mu.Unlock()
}

// Lost is a Proc for pid whose exit cannot be known (it is no child of
// this process any more: an earlier image of poold reaped it): its Wait
// and OnExit give err at once.
func Lost(pid int, err error) *Proc {
	p := newProc(pid)
	p.ended(Exit{}, err)
	return p
}

// Reaped reports how p ended, with ok false while it has not been reaped.
func (p *Proc) Reaped() (ex Exit, err error, ok bool) {
	select {
	case <-p.done:
		return p.ex, p.err, true
	default:
		return Exit{}, nil, false
	}
}

// Wait blocks until the process has ended and been reaped, and returns how
// it ended. It holds no OS thread while it waits. An error says the
// process could not be waited for (its exit is then unknown).
func (p *Proc) Wait() (Exit, error) {
	<-p.done
	return p.ex, p.err
}

// siginfoPid is the si_pid of a SIGCHLD siginfo (0: waitid found no
// child that ended). x/sys/unix names the first three fields in each
// architecture's order and leaves the union opaque; for a child it
// begins, aligned as a pointer, with si_pid.
func siginfoPid(info *unix.Siginfo) int {
	const ptr = unsafe.Sizeof(uintptr(0))
	union := (3*4 + ptr - 1) &^ (ptr - 1)
	return int(*(*int32)(unsafe.Add(unsafe.Pointer(info), union)))
}

// waitPid reaps the child pid (never -1), with wait4's opts (WNOHANG:
// only if it has ended, done is then false while it runs; __WNOTHREAD:
// only a child of the calling thread).
func waitPid(pid, opts int) (ex Exit, done bool, err error) {
	var ws syscall.WaitStatus
	for {
		n, err := syscall.Wait4(pid, &ws, opts, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return Exit{}, false, fmt.Errorf("wait for pid %d: wait4: %w", pid, err)
		}
		if n != pid {
			return Exit{}, false, nil // WNOHANG: still running
		}
		return exitOf(ws), true, nil
	}
}
