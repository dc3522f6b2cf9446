package spawn

import (
	"runtime"
	"strings"
	"syscall"
	"unsafe"
)

// A signal that comes while poold execs a new image of itself (an
// upgrade, a rollback) would end it, and every worker with it: execve
// resets a caught signal to its default action, which for SIGHUP,
// SIGINT, SIGUSR1 and SIGUSR2 is to end the process, until the new
// image's Go runtime or package catch takes it. An ignored signal stays
// ignored across execve. Go's runtime leaves an ignored SIGHUP or SIGINT
// so until signal.Notify takes it (see os/signal: "If the program was
// started with SIGHUP or SIGINT ignored..."), and installs its own
// handler for SIGUSR1 and SIGUSR2 as it starts, which drops them until
// signal.Notify: so poold ignores all four from just before the exec,
// and one that comes in that window is lost, not fatal (a reload or a
// reopen of the logs asked then is not done; SIGUSR2, an upgrade, is
// refused meanwhile anyway). SIGTERM and SIGQUIT are not: the runtime's
// handler for them ends the process until signal.Notify whatever they
// were, and a stop lost in the exec would be worse than a stop done at
// once; they keep a window of a few milliseconds.

// execQuietSignals are the signals ignored across an exec of poold.
var execQuietSignals = []syscall.Signal{syscall.SIGHUP, syscall.SIGINT, syscall.SIGUSR1, syscall.SIGUSR2}

// ExecImage is syscall.Exec for a new image of poold: execQuietSignals
// are ignored from just before it, and get their handlers back if it
// fails (it returns only then).
func ExecImage(path string, argv, env []string) error {
	restore := ignoreForExec()
	err := syscall.Exec(path, argv, env)
	restore()
	return err
}

// kernelSigaction holds the kernel's struct sigaction of the 64-bit
// architectures Go supports on Linux but mips (handler first, then
// flags, restorer where there is one, and the mask). It is only read
// and given back whole, or written as SIG_IGN (a handler of 1, the
// rest 0), which has the same bytes there whatever the fields after the
// handler are.
type kernelSigaction struct {
	handler  uintptr
	flags    uint64
	restorer uintptr
	mask     uint64
}

const sigIgn = 1

// ignoreForExec sets execQuietSignals to SIG_IGN and returns what puts
// back the actions they had. The runtime is not told: an exec that works
// ends it, and one that fails gets the same actions back.
func ignoreForExec() (restore func()) {
	if strings.HasPrefix(runtime.GOARCH, "mips") { // flags come first there
		return func() {}
	}
	saved := make([]kernelSigaction, len(execQuietSignals))
	set := make([]bool, len(execQuietSignals))
	ign := kernelSigaction{handler: sigIgn}
	for i, sig := range execQuietSignals {
		set[i] = rtSigaction(sig, &ign, &saved[i]) == nil
	}
	return func() {
		for i, sig := range execQuietSignals {
			if set[i] {
				_ = rtSigaction(sig, &saved[i], nil)
			}
		}
	}
}

func rtSigaction(sig syscall.Signal, act, old *kernelSigaction) error {
	const sigsetSize = 8 // the kernel's sigset_t: 64 signals
	_, _, errno := syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, uintptr(sig),
		uintptr(unsafe.Pointer(act)), uintptr(unsafe.Pointer(old)), sigsetSize, 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}
