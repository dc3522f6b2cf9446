package main

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// A SIGHUP is a request to re-read CONFIG (circusd, systemd's
// ExecReload, kill -HUP) unless poold's terminal hung up: the window or
// tab poold ran in was closed, tmux killed its session, ssh dropped. The
// kernel then sends SIGHUP to the session's leader (poold after `exec
// poold`, else the shell, which passes it on to its jobs). Taken as a
// reload, poold ran on without a terminal, orphaned, holding every port
// and endpoint, so the next start failed ("another poold is already
// listening"). flask run, uvicorn and honcho exit; so does poold, as on
// SIGTERM.
//
// The test is on the terminals poold had at start: a hangup gives their
// file descriptions the kernel's hung-up operations, and every ioctl on
// them then fails with EIO (a read returns end of file, a write EIO),
// whoever holds them. A live terminal answers TCGETS from a background
// job too, so a kill -HUP while it lives still reloads.

// terminal is what poold had of a terminal at start: the fds among 0, 1
// and 2 that were one, and one of its controlling terminal opened for
// the purpose (a poold whose streams are redirected still has one when
// started from a shell).
type terminal struct {
	fds   []int
	names []string // what each of fds is (/dev/pts/3), for the log
	ctty  int      // -1: none
}

// openTerminal takes note of poold's terminals. It never fails: a poold
// without any (systemd, docker without -t, setsid) reloads on every
// SIGHUP, and so does one started with SIGHUP ignored (nohup), which
// never calls it (hupIgnored).
func openTerminal() *terminal {
	t := &terminal{ctty: -1}
	for _, fd := range []int{0, 1, 2} {
		if isTerminal(fd) {
			t.fds = append(t.fds, fd)
			t.names = append(t.names, fdName(fd))
		}
	}
	// O_NOCTTY: it is poold's controlling terminal already, or none.
	// O_NONBLOCK: the open must not wait on a modem's carrier. Not
	// inherited by workers nor by an upgrade's exec (O_CLOEXEC).
	if fd, err := unix.Open("/dev/tty", unix.O_RDONLY|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0); err == nil {
		if isTerminal(fd) {
			t.ctty = fd
			t.fds = append(t.fds, fd)
			t.names = append(t.names, fdName(fd))
		} else {
			unix.Close(fd)
		}
	}
	return t
}

// hungUp tells whether a terminal poold had at start has hung up, and
// which ("" when none has).
func (t *terminal) hungUp() (bool, string) {
	if t == nil {
		return false, ""
	}
	for i, fd := range t.fds {
		if _, err := unix.IoctlGetTermios(fd, unix.TCGETS); errors.Is(err, unix.EIO) {
			return true, t.names[i]
		}
	}
	return false, ""
}

// close closes the controlling terminal's fd openTerminal opened.
func (t *terminal) close() {
	if t != nil && t.ctty >= 0 {
		unix.Close(t.ctty)
		t.ctty = -1
	}
}

func isTerminal(fd int) bool {
	_, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	return err == nil
}

// fdName is the file fd is open on, as /proc shows it.
func fdName(fd int) string {
	name, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
	if err != nil {
		return fmt.Sprintf("fd %d", fd)
	}
	return name
}
