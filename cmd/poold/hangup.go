package main

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

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
//
// Only the SIGHUP of the hangup stops poold. A poold that outlived its
// terminal's hangup with no SIGHUP (`poold cfg &` then `exit`, disown,
// setsid with stdin on the terminal) must reload on every later kill
// -HUP, though its terminal stays hung up. So poold learns of the hangup
// when it happens (watchHangup: poll(2) on the terminals, asleep in the
// kernel until then), waits hangupWindow for the SIGHUP that may follow
// it (the kernel's to a session leader comes first; a shell passes its
// own on to its jobs a moment later), and then forgets the terminal:
// from there on a SIGHUP reloads.

// hangupWindow is how long after a hangup a SIGHUP is still the
// hangup's: a shell passes it on within milliseconds, seconds on a
// loaded host. A kill -HUP sent within it stops poold as the hangup did.
const hangupWindow = 5 * time.Second

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

// watchHangup waits, in a goroutine asleep in poll(2), until one of t's
// terminals hangs up, and then sends its name on hung. A hung-up
// terminal, or a pty whose master was closed, polls POLLHUP; a live one
// wakes nobody. stop ends the wait and returns once the goroutine has.
// Without a terminal (systemd, docker without -t, nohup) hung is nil
// and no goroutine runs.
func (t *terminal) watchHangup() (hung <-chan string, stop func()) {
	if t == nil || len(t.fds) == 0 {
		return nil, func() {}
	}
	var wake [2]int // what stop writes to, to end the poll
	if err := unix.Pipe2(wake[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return nil, func() {} // a SIGHUP is then taken as before: by hungUp
	}
	c := make(chan string, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if name, ok := t.pollHangup(wake[0]); ok {
			c <- name
		}
	}()
	var once sync.Once
	return c, func() {
		once.Do(func() {
			unix.Write(wake[1], []byte{0})
			<-done
			unix.Close(wake[0])
			unix.Close(wake[1])
		})
	}
}

// pollHangup blocks until one of t's terminals hangs up (its name, true)
// or wake becomes readable (false).
func (t *terminal) pollHangup(wake int) (string, bool) {
	pfds := make([]unix.PollFd, 0, len(t.fds)+1)
	for _, fd := range t.fds {
		// No events asked: poll reports POLLHUP and POLLERR anyway.
		pfds = append(pfds, unix.PollFd{Fd: int32(fd)})
	}
	pfds = append(pfds, unix.PollFd{Fd: int32(wake), Events: unix.POLLIN})
	for {
		_, err := unix.Poll(pfds, -1)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return "", false
		}
		if pfds[len(pfds)-1].Revents != 0 {
			return "", false
		}
		for i, p := range pfds[:len(t.fds)] {
			if p.Revents&(unix.POLLHUP|unix.POLLERR|unix.POLLNVAL) != 0 {
				return t.names[i], true
			}
		}
	}
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
