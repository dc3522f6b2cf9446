package arbiter

import (
	"os"
	"testing"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/proctest"
)

// holdEnv marks TestHelperHoldsWorkers's run, and its workers.
const holdEnv = "ARBITER_TEST_HOLD"

// heldWorkers is how many workers the helper holds: a -race worker lost
// its parent-death signal only when its re-exec ran on another thread
// than its first, a few in a hundred.
const heldWorkers = 60

// TestHelperHoldsWorkers is TestTimedOutTestBinaryLeavesNoWorkers's
// child, run only by it: a test that starts workers and then never ends,
// until this binary dies as `go test -timeout` ends it.
func TestHelperHoldsWorkers(t *testing.T) {
	marker := os.Getenv(holdEnv)
	if marker == "" {
		return // not the child
	}
	w := testWatcher("held", "sleep", heldWorkers)
	w.Env = append(w.Env, holdEnv+"="+marker)
	h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{})
	var pids []int
	for pid := range h.spawns(heldWorkers) {
		pids = append(pids, pid)
	}
	proctest.Held(pids)
	select {} // until the parent ends this binary
}

// A test binary that dies (SIGQUIT, as `go test -timeout` ends one that
// overruns, or its own -test.timeout) took its workers with it only by
// their parent-death signal, and a -race worker lost it when it re-exec'd
// itself (quickRaceExit) from another thread than its first: the kernel
// keeps that signal per thread, and a new thread starts without it.
// `-timeout 8s -run TestCommandsAreServedWhileManyWatchersStart` left
// 5 of its 600 workers running, with ppid 1.
func TestTimedOutTestBinaryLeavesNoWorkers(t *testing.T) {
	held, left := proctest.Survivors(t, "TestHelperHoldsWorkers", holdEnv, hang)
	if len(held) != heldWorkers {
		t.Errorf("the helper held %d workers, want %d: %v", len(held), heldWorkers, held)
	}
	if len(left) > 0 {
		t.Fatalf("%d of the %d workers of a test binary that died still ran %v later: %v", len(left), heldWorkers, hang, left)
	}
}
