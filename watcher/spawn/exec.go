package spawn

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// In-place upgrade. poold re-executes itself with the same pid so that
// every worker stays its child. Two things tie that to the spawner's
// thread:
//
//   - A worker's parent-death signal fires when the thread that forked it
//     ends. execve ends every thread but the caller, so only an exec made
//     from the forking thread leaves the workers alone; the caller becomes
//     the new image's main thread.
//   - The new image must in turn fork from that same thread (its main
//     thread, where its adopted workers' parent now is), or its next
//     upgrade would kill one half of the workers or the other.
//
// So poold's binary serves the spawner on the main thread (RunOnMain,
// called by main with the main goroutine locked to it from init), and
// Exec runs on it.

type execRequest struct {
	path  string
	argv  []string
	env   []string
	reply chan error
}

// RunOnMain is Run for a goroutine locked to the process's main thread
// (main's goroutine, locked in an init function): it serves there rather
// than from a thread of its own. Workers then have the main thread as
// parent thread, which ends only with poold (any thread's exit kills
// them otherwise) and which an exec keeps. It fails when not called on
// the main thread.
func (s *Spawner) RunOnMain(ctx context.Context) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if syscall.Gettid() != os.Getpid() {
		return fmt.Errorf("spawn: RunOnMain called on thread %d, not the main thread %d: lock the main goroutine in an init function", syscall.Gettid(), os.Getpid())
	}
	s.onMain = true
	return s.serve(ctx)
}

// Exec replaces poold's program with path, from the spawner's thread,
// keeping its pid and children. It returns only when the exec failed (the
// spawner then goes on serving), or with ErrSpawnerStopped. Only a
// spawner run with RunOnMain may exec: from any other thread the new
// image could not keep the workers across its own next exec.
func (s *Spawner) Exec(path string, argv, env []string) error {
	r := execRequest{path: path, argv: argv, env: env, reply: make(chan error, 1)}
	select {
	case s.execs <- r:
	case <-s.done:
		return ErrSpawnerStopped
	}
	return <-r.reply
}

func (s *Spawner) exec(r execRequest) error {
	if !s.onMain {
		return fmt.Errorf("exec %s: the spawner does not run on the main thread (RunOnMain); an exec from here would kill the workers", r.path)
	}
	err := ExecImage(r.path, r.argv, r.env)
	return fmt.Errorf("exec %s: %w", r.path, err)
}

// ClearCloexec makes fd survive an exec (the fds of sockets, pipes and
// the state a new image of poold takes over).
func ClearCloexec(fd int) error {
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	if err != nil {
		return fmt.Errorf("fd %d: %w", fd, err)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, flags&^unix.FD_CLOEXEC); err != nil {
		return fmt.Errorf("fd %d: clear close-on-exec: %w", fd, err)
	}
	return nil
}
