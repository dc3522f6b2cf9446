package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/poold/poold/watcher/proctest"
)

// holdEnv marks TestHelperHoldsPoold's run, its poold and their workers;
// holdWay names how the helper starts poold (a key of holdWays).
const (
	holdEnv = "CMD_TEST_HOLD"
	holdWay = "CMD_TEST_HOLD_WAY"
)

const heldWorkers = 3

// holdWays start poold with heldWorkers workers marked by mark (KEY=VALUE)
// as the tests of this package do.
var holdWays = map[string]func(t *testing.T, mark string) *proc{
	"launchPoold": func(t *testing.T, mark string) *proc {
		return startPoold(t, fmt.Sprintf(`
[arbiter]
ENDPOINTS
[watchers.held]
cmd = @WORKER@
numprocesses = %d
env = ["POOLD_TEST_WORKER=sleep", %q]
`, heldWorkers, mark))
	},
	// as the Circus tests start the real poold binary
	"realPoold": func(t *testing.T, mark string) *proc {
		dir := t.TempDir()
		ini := filepath.Join(dir, "circus.ini")
		writeFile(t, ini, fmt.Sprintf(`[circus]
endpoint = ipc://%[1]s/c.sock
pubsub_endpoint = ipc://%[1]s/e.sock
stats_endpoint = ipc://%[1]s/s.sock

[watcher:held]
cmd = /bin/sleep 3600
numprocesses = %[2]d

[env:held]
%[3]s
`, dir, heldWorkers, mark))
		return startRealPoold(t, nil, dir, ini)
	},
	// as TestLeftoversWithoutCgroupsGoAtTheNextStart starts it
	"asNobody": func(t *testing.T, mark string) *proc {
		dir, bin := nonrootCopy(t)
		path := filepath.Join(dir, "poold.toml")
		writeFile(t, path, fmt.Sprintf(`
[arbiter]
endpoint = "ipc://%[1]s/c.sock"
pubsub_endpoint = "ipc://%[1]s/e.sock"
stats_endpoint = "ipc://%[1]s/s.sock"

[watchers.held]
cmd = "/bin/sleep 3600"
numprocesses = %[2]d
env = [%[3]q]
`, dir, heldWorkers, mark))
		return pooldAsNobody(t, bin, path)
	},
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestHelperHoldsPoold is TestTimedOutTestBinaryLeavesNoPoold's child,
// run only by it: a test that starts poold with workers, names them to
// its parent (proctest.Held) and then never ends, until this binary dies
// as `go test -timeout` ends it.
func TestHelperHoldsPoold(t *testing.T) {
	marker := os.Getenv(holdEnv)
	if marker == "" {
		return // not the child
	}
	start := holdWays[os.Getenv(holdWay)]
	if start == nil {
		t.Fatalf("%s=%q: not a way to start poold", holdWay, os.Getenv(holdWay))
	}
	p := start(t, holdEnv+"="+marker)
	pid := p.cmd.Process.Pid
	var workers []int
	if !proctest.Poll(hang, func() bool {
		workers = childrenOf(pid)
		return len(workers) == heldWorkers
	}) {
		t.Fatalf("poold's %d workers did not start within %v: %v; its log:\n%s", heldWorkers, hang, workers, p.log.String())
	}
	proctest.Held(append([]int{pid}, workers...))
	select {} // until the parent ends this binary
}

// A test binary that dies (SIGQUIT, as `go test -timeout` ends one that
// overruns, or its own -test.timeout) left the poold it had started
// running with ppid 1, and poold its workers: launchPoold gave poold a
// parent-death signal only when a wrapper ran it, the Circus tests
// started the real poold binary without one, and a poold that drops root
// (asUID) lost it as its uid changed.
func TestTimedOutTestBinaryLeavesNoPoold(t *testing.T) {
	t.Setenv("POOLD_BIN", realPoold(t)) // built once, here, not in each child too
	for _, way := range []string{"launchPoold", "realPoold", "asNobody"} {
		t.Run(way, func(t *testing.T) {
			t.Setenv(holdWay, way)
			held, left := proctest.Survivors(t, "TestHelperHoldsPoold", holdEnv, hang)
			if len(held) != 1+heldWorkers {
				t.Errorf("the helper held %v, want poold and %d workers", held, heldWorkers)
			}
			if len(left) > 0 {
				t.Fatalf("poold (pid %d) and its workers %v, of a test binary that died, still ran %v later: %v", held[0], held[1:], hang, left)
			}
		})
	}
}
