package workertest

import (
	"os"
	"strings"
	"syscall"
)

// A program built with -race sleeps GORACE's atexit_sleep_ms (1000 by
// default) as it exits with status 0, to let other goroutines report
// races. Every -race worker or poold that stopped cleanly held its test
// a second for it: 90 add/rm cycles of arbiter's
// TestAddRmCyclesReleaseEverything took 100 s, 90 of them this sleep.
// Without it the race detector still runs, reports at once and still
// fails the exit (status 66) on a race; only the wait goes.

// raceOpts is GORACE's value opts with the exit sleep at 0, unless opts
// sets one of its own.
func raceOpts(opts string) string {
	if strings.Contains(opts, "atexit_sleep_ms") {
		return opts
	}
	return strings.TrimSpace(opts + " atexit_sleep_ms=0")
}

// QuickRaceExits sets GORACE in this process's environment so that the
// -race test binaries it starts with os.Environ() in a mode of their own
// (poold, a control peer) exit without the sleep. TestMain calls it.
func QuickRaceExits() {
	if raceBuild {
		_ = os.Setenv("GORACE", raceOpts(os.Getenv("GORACE")))
	}
}

// quickRaceExit makes this worker, when built with -race and started
// without an exit sleep in GORACE, exec itself again with one of 0: same
// pid, same fds (its sockets, its notify socket), so poold sees the same
// worker. A worker's environment is what its watcher gives it (copy_env
// is off), which the test's own GORACE does not reach. If the exec fails
// the worker goes on as it is.
func quickRaceExit() {
	opts := os.Getenv("GORACE")
	if !raceBuild || strings.Contains(opts, "atexit_sleep_ms") {
		return
	}
	env := []string{"GORACE=" + raceOpts(opts)}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GORACE=") {
			env = append(env, kv)
		}
	}
	_ = syscall.Exec("/proc/self/exe", os.Args, env)
}
