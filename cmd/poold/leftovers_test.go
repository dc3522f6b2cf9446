package main

import (
	"os"
	"strconv"
	"syscall"
)

// descendants lists pid's children, theirs, and so on, as /proc shows them
// now.
func descendants(pid int) []int {
	var out []int
	for _, c := range childrenOf(pid) {
		out = append(out, c)
		out = append(out, descendants(c)...)
	}
	return out
}

// killLeftovers SIGKILLs what is still alive of pids: the descendants of a
// manager a test started, noted before it was stopped. A worker's own
// children outlive a manager killed with SIGKILL (the workers die of
// their parent-death signal, their children have none) and circusd,
// stopping, signals its workers but not their children. Each pid's
// process group goes too: a worker leads its own group, so a child it
// forked after the snapshot (a shell's `sleep &`) is in it.
func killLeftovers(pids []int) {
	for _, pid := range pids {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// killInDir SIGKILLs every process whose working directory is dir, a
// test's own temporary directory: the orphans that circusd's stopped
// workers left during the test (circusd signals a worker, not its
// children, which go to init) are found there and nowhere else.
func killInDir(dir string) {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		if cwd, err := os.Readlink("/proc/" + e.Name() + "/cwd"); err == nil && cwd == dir {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}
