package web

import (
	"os"
	"testing"
	"time"

	"github.com/poold/poold/watcher/proctest"
)

// holdEnv marks TestHelperHoldsFakeProcesses's run, and its sleeps.
const holdEnv = "WEB_TEST_HOLD"

const heldFakes = 5

// TestHelperHoldsFakeProcesses is TestTimedOutTestBinaryLeavesNoFakes's
// child, run only by it: a test whose fake backend runs sleeps and that
// never ends, until this binary dies as `go test -timeout` ends it.
func TestHelperHoldsFakeProcesses(t *testing.T) {
	t.Parallel()
	if os.Getenv(holdEnv) == "" {
		return // not the child
	}
	f := newFakeBackend(t, map[string]int{"held": heldFakes})
	var pids []int
	for _, pid := range f.Pids("held") {
		pids = append(pids, pid)
	}
	proctest.Held(pids)
	select {} // until the parent ends this binary
}

// A test binary that died (go test -timeout, its own -test.timeout, a
// kill) left its fake backends' `sleep 3600` processes running for an
// hour with ppid 1: all 5 of the helper's, in 2 runs of 2.
func TestTimedOutTestBinaryLeavesNoFakes(t *testing.T) {
	t.Parallel()
	bound := 60 * time.Second
	held, left := proctest.Survivors(t, "TestHelperHoldsFakeProcesses", holdEnv, bound)
	if len(held) != heldFakes {
		t.Errorf("the helper held %d sleeps, want %d: %v", len(held), heldFakes, held)
	}
	if len(left) > 0 {
		t.Fatalf("%d of the %d sleeps of a test binary that died still ran %v later: %v", len(left), len(held), bound, left)
	}
}
