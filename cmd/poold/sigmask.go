package main

import (
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// unblockInheritedSignals starts poold again, in the same process, with
// no signal blocked, when it was started with some blocked (a parent
// that blocks signals and does not unblock them for its children, such as
// a Python program's pthread_sigmask). Go keeps the mask poold inherits
// on each of its threads, and every process it starts inherits the mask
// of the thread that starts it: its workers would begin with those
// signals blocked across exec (a gunicorn whose SIGWINCH, SIGUSR1 or
// SIGALRM never arrives), where systemd and a shell start a service with
// none. Go gives a child no mask of its own, so poold clears the main
// thread's (init locked main on it) and execs its own binary once, with
// its argv and environment unchanged. When that exec fails it says so
// and runs on with the mask.
func unblockInheritedSignals() {
	var blocked unix.Sigset_t
	if err := unix.PthreadSigmask(unix.SIG_SETMASK, nil, &blocked); err != nil || blocked == (unix.Sigset_t{}) {
		return
	}
	var none unix.Sigset_t
	if err := unix.PthreadSigmask(unix.SIG_SETMASK, &none, nil); err != nil {
		return
	}
	err := syscall.Exec("/proc/self/exe", os.Args, os.Environ())
	_ = unix.PthreadSigmask(unix.SIG_SETMASK, &blocked, nil)
	fmt.Fprintf(os.Stderr, "poold: started with signals blocked (mask %#x); its workers will start with them blocked too: re-executing /proc/self/exe to clear the mask failed: %v (start poold with no signal blocked)\n", blocked.Val[0], err)
}
