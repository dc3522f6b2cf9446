package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"unsafe"

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

// keepName gives poold back the name it was started under after the
// exec of /proc/self/exe above, which the kernel names "exe", and after
// an upgrade's exec of the checked binary through /proc/self/fd/N (and a
// rollback's), which it names "N": ps -C, pgrep -x, killall and ss -p go
// by that name. It runs on the main thread, whose name is the process's.
func keepName() {
	var cur [16]byte
	if unix.Prctl(unix.PR_GET_NAME, uintptr(unsafe.Pointer(&cur[0])), 0, 0, 0) != nil || !execedName(unix.ByteSliceToString(cur[:])) {
		return
	}
	name := filepath.Base(os.Args[0])
	if name == "exe" || name == "." || name == "/" {
		return
	}
	var b [16]byte // at most 15 bytes and a NUL, as the kernel keeps it
	copy(b[:15], name)
	_ = unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(&b[0])), 0, 0, 0)
}

// execedName says whether the kernel named poold after one of its own
// execs by a /proc path rather than after its binary.
func execedName(comm string) bool {
	return comm == "exe" || (comm != "" && strings.Trim(comm, "0123456789") == "")
}
