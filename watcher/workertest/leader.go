package workertest

import (
	"os"
	"syscall"
)

// leaderEnds is the mode whose worker ends its first thread alone.
const leaderEnds = "leader-ends"

// As early as this package can: the worker's first thread ends before
// poold's first look at it, and never runs Main.
func init() {
	if os.Getenv(Env) == leaderEnds {
		endLeader()
	}
}

// endLeader ends the calling thread alone (exit, not exit_group): run
// by init, the process's first thread, which the runtime keeps for the
// main goroutine until init is done. The runtime's other threads sleep
// on, and /proc/PID shows a zombie, as it does of a multi-threaded
// program that execs from another thread until its exec is done (a
// -race worker's quickRaceExit, from whichever thread its goroutine
// runs on). A signal's default action (SIGTERM: nothing catches it)
// ends the whole process.
func endLeader() {
	_, _, errno := syscall.Syscall(syscall.SYS_EXIT, 0, 0, 0)
	panic("exit of the first thread returned: " + errno.Error())
}
