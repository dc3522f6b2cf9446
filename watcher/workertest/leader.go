package workertest

import (
	"os"
	"runtime"
	"syscall"
)

// leaderEnds is the mode whose worker ends its first thread alone.
const leaderEnds = "leader-ends"

// A worker keeps its main goroutine on its first thread, the one that
// holds the parent-death signal its spawner set: the kernel keeps that
// signal per thread, and a thread the runtime starts later has none. A
// -race worker re-execs itself (quickRaceExit), and an exec from another
// thread kept that one's nothing: the worker outlived a test binary that
// died (`go test -timeout`), with ppid 1. The leader-ends mode ends that
// thread instead, as early as this package can: before poold's first
// look at it, and it never runs Main.
func init() {
	switch os.Getenv(Env) {
	case "":
	case leaderEnds:
		endLeader()
	default:
		runtime.LockOSThread() // never unlocked: the worker's whole life
	}
}

// endLeader ends the calling thread alone (exit, not exit_group): run
// by init, the process's first thread, which the runtime keeps for the
// main goroutine until init is done. The runtime's other threads sleep
// on, and /proc/PID shows a zombie, as it does of a multi-threaded
// program that execs from another thread until its exec is done (a Go
// program that re-execs itself from a goroutine; a -race worker did so
// before init kept it on its first thread). A signal's default action
// (SIGTERM: nothing catches it) ends the whole process.
func endLeader() {
	_, _, errno := syscall.Syscall(syscall.SYS_EXIT, 0, 0, 0)
	panic("exit of the first thread returned: " + errno.Error())
}
