package main

import (
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
)

// SIGTTIN and SIGTTOU stop a process by default. poold run from a shell
// with job control (a terminal, tmux) or under supervisord is in a
// process group whose parent shares its session, so a `kill -TTIN`, the
// way gunicorn's master is told to add a worker, stopped poold for good:
// no respawn, no answer to poolctl, workers unsupervised. poold takes
// both signals and says how it scales instead.

// jobControl answers SIGTTIN or SIGTTOU.
func (d *daemon) jobControl(sig os.Signal) {
	if sig == syscall.SIGTTOU && backgroundWriter() {
		// The terminal sent it: poold, a background job, wrote to it
		// with `stty tostop` on. Caught, that write would be retried
		// forever; left to the default, the terminal stops poold as it
		// stops any job that writes there, until `fg`.
		signal.Reset(syscall.SIGTTOU)
		return
	}
	d.log.Warn("signal ignored: poold does not scale watchers on SIGTTIN and SIGTTOU as gunicorn does; use poolctl incr NAME or poolctl decr NAME",
		"signal", sig)
}

// backgroundWriter tells whether poold's stdout or stderr is a terminal
// that stops background writers (tostop) and poold is not its
// foreground process group.
func backgroundWriter() bool {
	for _, fd := range []int{1, 2} {
		tio, err := unix.IoctlGetTermios(fd, unix.TCGETS)
		if err != nil || tio.Lflag&unix.TOSTOP == 0 {
			continue
		}
		if fg, err := unix.IoctlGetInt(fd, unix.TIOCGPGRP); err == nil && fg != syscall.Getpgrp() {
			return true
		}
	}
	return false
}
