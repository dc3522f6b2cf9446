package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
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
// as the tests of this package do, and name the other processes the way
// starts that must end with the test binary.
var holdWays = map[string]func(t *testing.T, mark string) (*proc, []int){
	"launchPoold": func(t *testing.T, mark string) (*proc, []int) {
		return startPoold(t, fmt.Sprintf(`
[arbiter]
ENDPOINTS
[watchers.held]
cmd = @WORKER@
numprocesses = %d
env = ["POOLD_TEST_WORKER=sleep", %q]
`, heldWorkers, mark)), nil
	},
	// as the Circus tests start the real poold binary
	"realPoold": func(t *testing.T, mark string) (*proc, []int) {
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
		return startRealPoold(t, nil, dir, ini), nil
	},
	// as TestLeftoversWithoutCgroupsGoAtTheNextStart starts it
	"asNobody": func(t *testing.T, mark string) (*proc, []int) {
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
		return pooldAsNobody(t, bin, path), nil
	},
	// the orphans TestLeftoversWithoutCgroupsGoAtTheNextStart makes on
	// purpose: a stranger's, and each worker's child
	"leftovers": func(t *testing.T, mark string) (*proc, []int) {
		dir, bin := nonrootCopy(t)
		left := []int{strangerHolding(t, bin, proctest.FreePort(t))}
		p := pooldAsNobody(t, bin, leftoverConfig(t, dir, bin, proctest.FreePort(t), mark))
		worker, _ := strconv.Atoi(p.waitLog(`worker (\d+) serving`, 1)[0][1])
		proctest.Eventually(t, "the worker's child", func() bool { return leftoverOf(worker) != 0 })
		return p, append(left, leftoverOf(worker))
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
	p, more := start(t, holdEnv+"="+marker)
	pid := p.cmd.Process.Pid
	want := heldWorkers
	if len(more) > 0 {
		want = 1 // the leftovers way's one worker
	}
	var workers []int
	if !proctest.Poll(hang, func() bool {
		workers = childrenOf(pid)
		return len(workers) == want
	}) {
		t.Fatalf("poold's %d workers did not start within %v: %v; its log:\n%s", want, hang, workers, p.log.String())
	}
	proctest.Held(append(append([]int{pid}, workers...), more...))
	select {} // until the parent ends this binary
}

// A test binary that dies (SIGQUIT, as `go test -timeout` ends one that
// overruns, or its own -test.timeout) left the poold it had started
// running with ppid 1, and poold its workers: launchPoold gave poold a
// parent-death signal only when a wrapper ran it, the Circus tests
// started the real poold binary without one, and a poold that drops root
// (asUID) lost it as its uid changed. The orphans the leftover tests
// make on purpose, as uid 65534, ran `sleep 3600` for an hour under
// init.
func TestTimedOutTestBinaryLeavesNoPoold(t *testing.T) {
	t.Setenv("POOLD_BIN", realPoold(t)) // built once, here, not in each child too
	for _, way := range []string{"launchPoold", "realPoold", "asNobody", "leftovers"} {
		t.Run(way, func(t *testing.T) {
			t.Setenv(holdWay, way)
			held, left := proctest.Survivors(t, "TestHelperHoldsPoold", holdEnv, hang)
			want := 1 + heldWorkers
			if way == "leftovers" {
				want = 4 // poold, its worker, the stranger, the worker's child
			}
			if len(held) != want {
				t.Errorf("the helper held %v, want %d processes", held, want)
			}
			if len(left) > 0 {
				t.Fatalf("poold (pid %d) and what it and the test started %v, of a test binary that died, still ran %v later: %v", held[0], held[1:], hang, left)
			}
		})
	}
}
