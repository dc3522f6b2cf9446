package sockets

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Handoff is what one worker inherits.
type Handoff struct {
	// Files go to exec.Cmd.ExtraFiles: Files[i] becomes the worker's fd 3+i.
	Files []*os.File
	// Env is "LISTEN_FDS=n" and "LISTEN_FDNAMES=a:b". LISTEN_PID is not
	// here: it must be the worker's own pid, set by poold's exec step.
	Env []string
	// FDs maps a socket name to its fd in the worker (3+i), the value of
	// $(pool.sockets.NAME).
	FDs map[string]int
}

// Handoff returns the files and environment for a worker that uses the
// named sockets, in the order given (a repeated name counts once, at its
// first place). An unknown name is an error naming it. With no names the
// Handoff is empty and carries no LISTEN_* variables.
func (s *Set) Handoff(names []string) (Handoff, error) {
	if len(names) == 0 {
		return Handoff{}, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var (
		h      = Handoff{FDs: make(map[string]int, len(names))}
		order  []string
		errs   []error
		exists = make(map[string]bool)
	)
	for _, name := range names {
		if exists[name] {
			continue
		}
		exists[name] = true
		l, ok := s.byName[name]
		if !ok {
			errs = append(errs, &Error{Socket: name, Err: ErrUnknown, Hint: s.knownLocked()})
			continue
		}
		h.FDs[name] = 3 + len(h.Files)
		h.Files = append(h.Files, l.File)
		order = append(order, name)
	}
	if len(errs) > 0 {
		return Handoff{}, errors.Join(errs...)
	}
	h.Env = []string{
		"LISTEN_FDS=" + strconv.Itoa(len(h.Files)),
		"LISTEN_FDNAMES=" + strings.Join(order, ":"),
	}
	return h, nil
}

func (s *Set) knownLocked() string {
	if s.closed {
		return "the socket set is closed"
	}
	if len(s.byName) == 0 {
		return "no sockets are defined; add a [sockets.NAME] section"
	}
	names := make([]string, 0, len(s.byName))
	for _, l := range s.listLocked() {
		names = append(names, l.Name)
	}
	return "defined sockets: " + strings.Join(names, ", ") + "; check the watcher's sockets list"
}

// SealInherited marks every fd from 3 up close-on-exec. poold's own fds
// already are; this catches the ones poold inherited without the flag
// (from a shell, a CI runner, a supervisor), which would otherwise reach
// every worker. Call it once at startup, before any worker starts, after
// taking any fds poold means to use itself. Sockets for workers still get
// through: exec.Cmd.ExtraFiles sets them up in the child without the flag.
func SealInherited() error {
	err := unix.CloseRange(3, math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC)
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("sockets: mark inherited fds close-on-exec: %w", err)
	}
	// Kernels before 5.11: one fd at a time.
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return fmt.Errorf("sockets: mark inherited fds close-on-exec: %w", err)
	}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd < 3 {
			continue
		}
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil {
			continue // the directory's own fd, closed by now
		}
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, flags|unix.FD_CLOEXEC); err != nil {
			return fmt.Errorf("sockets: mark fd %d close-on-exec: %w", fd, err)
		}
	}
	return nil
}
