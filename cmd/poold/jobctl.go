package main

import (
	"os"
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
		// with `stty tostop` on. Caught, that write is retried at once,
		// again and again; poold does what the default action would:
		// it stops its job until `fg` or `bg` continues it. (A Reset
		// does not give SIGTTOU its default back: Go keeps its handler.)
		_ = syscall.Kill(-syscall.Getpgrp(), syscall.SIGSTOP)
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
