package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// forkFloor is the floor's fork/exec loop, shared by the spawn section
// and the -tenk section: the worker gets the listener at fd 3 (with
// LISTEN_FDS=1), /dev/null (opened once) as stdin, stdout and stderr,
// its own process group and a parent-death signal, as poold's workers do.
// It forks with syscall.ForkExec and reaps its children itself, by pid:
// os/exec would hold a pidfd and a thread blocked in Wait per child,
// costs poold does not pay (and Go refuses a 10,001st thread).
type forkFloor struct {
	path     string
	argv     []string
	attr     *syscall.ProcAttr
	listener *os.File // attr's fd 3, open until stop for later forks
	addr     string   // the shared socket
	pids     []int
	t0       time.Time
}

// newForkFloor binds the shared socket and prepares the loop; nothing is
// forked yet.
func newForkFloor(path string, argv, env []string) (*forkFloor, error) {
	l, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	defer l.Close() // the workers and fl.listener hold their own copies
	f, err := blockingFile(l)
	if err != nil {
		return nil, err
	}
	null, err := devNull()
	if err != nil {
		f.Close()
		return nil, err
	}
	attr := &syscall.ProcAttr{
		Env:   append([]string{"LISTEN_FDS=1", "LISTEN_FDNAMES=web"}, env...),
		Files: []uintptr{null, null, null, f.Fd()},
		Sys:   &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL},
	}
	return &forkFloor{path: path, argv: argv, attr: attr, listener: f, addr: l.Addr().String()}, nil
}

// fork starts n workers, one after the other.
func (fl *forkFloor) fork(n int) error {
	for i := 0; i < n; i++ {
		pid, err := syscall.ForkExec(fl.path, fl.argv, fl.attr)
		if err != nil {
			return fmt.Errorf("floor: fork/exec %s (%d of %d): %w", fl.path, i+1, n, err)
		}
		fl.pids = append(fl.pids, pid)
	}
	return nil
}

// replace reaps fl.pids[i], which was killed, and forks its replacement
// in its place.
func (fl *forkFloor) replace(i int) error {
	reap(fl.pids[i])
	pid, err := syscall.ForkExec(fl.path, fl.argv, fl.attr)
	if err != nil {
		return fmt.Errorf("floor: fork/exec %s: %w", fl.path, err)
	}
	fl.pids[i] = pid
	return nil
}

var devNullOnce = sync.OnceValues(func() (uintptr, error) {
	fd, err := syscall.Open(os.DevNull, syscall.O_RDWR|syscall.O_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("floor: open %s for the workers' stdio: %w", os.DevNull, err)
	}
	return uintptr(fd), nil
})

// devNull is one /dev/null fd for every floor child, opened once per run.
func devNull() (uintptr, error) { return devNullOnce() }

// stop sends sig to every worker, SIGKILLs those still running after
// grace, reaps each one and closes the listener. It returns how long the
// workers took to exit.
func (fl *forkFloor) stop(sig syscall.Signal, grace time.Duration) time.Duration {
	t0 := time.Now()
	signalAll(fl.pids, sig)
	var mu sync.Mutex
	reaped := 0 // fl.pids[:reaped] are reaped: their pids may be reused
	done, killed := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(killed)
		select {
		case <-done:
		case <-time.After(grace):
			mu.Lock()
			signalAll(fl.pids[reaped:], syscall.SIGKILL)
			mu.Unlock()
		}
	}()
	for _, pid := range fl.pids {
		// Wait for the exit without reaping (a zombie keeps its pid, so
		// the killer cannot hit a reused one), then reap under the lock.
		var si unix.Siginfo
		for {
			err := unix.Waitid(unix.P_PID, pid, &si, unix.WEXITED|unix.WNOWAIT, nil)
			if !errors.Is(err, syscall.EINTR) {
				break
			}
		}
		mu.Lock()
		reap(pid)
		reaped++
		mu.Unlock()
	}
	close(done)
	<-killed
	fl.pids = nil
	fl.listener.Close()
	return time.Since(t0)
}

// reap waits for one child by pid, retrying on EINTR.
func reap(pid int) {
	var ws syscall.WaitStatus
	for {
		if _, err := syscall.Wait4(pid, &ws, 0, nil); !errors.Is(err, syscall.EINTR) {
			return
		}
	}
}
