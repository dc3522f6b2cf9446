package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/watcher/proctest"
)

// holdEnv marks TestHelperHoldsPoold's run, its poold and their workers.
const holdEnv = "CMD_POOLD_TEST_HOLD"

const heldWorkers = 3

// TestHelperHoldsPoold is TestTimedOutTestBinaryLeavesNoPoold's child,
// run only by it: a test that starts poold with workers and then never
// ends, until this binary dies as `go test -timeout` ends it.
func TestHelperHoldsPoold(t *testing.T) {
	marker := os.Getenv(holdEnv)
	if marker == "" {
		return // not the child
	}
	p := startPoold(t, fmt.Sprintf(`
[arbiter]
ENDPOINTS
[watchers.held]
cmd = @WORKER@
numprocesses = %d
env = ["POOLD_TEST_WORKER=sleep", %q]
`, heldWorkers, holdEnv+"="+marker))
	pid := p.cmd.Process.Pid
	var workers []int
	if !proctest.Poll(hang, func() bool {
		workers = childrenOf(pid)
		return len(workers) == heldWorkers
	}) {
		t.Fatalf("poold's %d workers did not start within %v: %v; its log:\n%s", heldWorkers, hang, workers, p.log.String())
	}
	fmt.Println("held", pid, strings.Trim(fmt.Sprint(workers), "[]"))
	select {} // until the parent ends this binary
}

// A test binary that dies (SIGQUIT, as `go test -timeout` ends one that
// overruns, or its own -test.timeout) left the poold it had started
// running with ppid 1, and poold its workers: launchPoold gave poold a
// parent-death signal only when a wrapper ran it.
func TestTimedOutTestBinaryLeavesNoPoold(t *testing.T) {
	marker := fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano())
	c := exec.Command(os.Args[0], "-test.run=^TestHelperHoldsPoold$", "-test.timeout=10m")
	c.Env = append(os.Environ(), holdEnv+"="+marker)
	c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	held := make(chan []int, 1)
	go func() {
		defer close(held)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "held "); ok {
				var pids []int
				for _, f := range strings.Fields(rest) {
					pid, _ := strconv.Atoi(f)
					pids = append(pids, pid)
				}
				held <- pids
			}
		}
	}()
	var pids []int
	select {
	case pids = <-held:
	case <-time.After(hang):
	}
	_ = c.Process.Signal(syscall.SIGQUIT)
	_ = c.Wait()
	if len(pids) != 1+heldWorkers {
		t.Fatalf("the helper did not report its poold and %d workers within %v: %v", heldWorkers, hang, pids)
	}
	alive := func() []int { return proctest.Marked(pids, holdEnv+"="+marker) }
	if !proctest.Poll(hang, func() bool { return len(alive()) == 0 }) {
		left := alive()
		for _, pid := range left {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		t.Fatalf("poold (pid %d) and its workers %v, of a test binary that died, still ran %v later: %v", pids[0], pids[1:], hang, left)
	}
}

// TestHelperHoldsRealPoold is TestTimedOutTestBinaryLeavesNoRealPoold's
// child, run only by it: the real poold binary on a circus.ini, started
// as the Circus tests start it, with workers, and a test that never ends,
// until this binary dies as `go test -timeout` ends it.
func TestHelperHoldsRealPoold(t *testing.T) {
	marker := os.Getenv(holdEnv)
	if marker == "" {
		return // not the child
	}
	dir := t.TempDir()
	ini := filepath.Join(dir, "circus.ini")
	text := fmt.Sprintf(`[circus]
endpoint = ipc://%[1]s/c.sock
pubsub_endpoint = ipc://%[1]s/e.sock
stats_endpoint = ipc://%[1]s/s.sock

[watcher:held]
cmd = /bin/sleep 3600
numprocesses = %[2]d

[env:held]
%[3]s = %[4]s
`, dir, heldWorkers, holdEnv, marker)
	if err := os.WriteFile(ini, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startRealPoold(t, nil, dir, ini)
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

// A test binary that died (go test -timeout) left the real poold its
// Circus tests had started running with ppid 1, and its workers: they
// started it their own way, without the parent-death signal launchPoold
// gives.
func TestTimedOutTestBinaryLeavesNoRealPoold(t *testing.T) {
	t.Setenv("POOLD_BIN", realPoold(t)) // built once, here, not in the child too
	held, left := proctest.Survivors(t, "TestHelperHoldsRealPoold", holdEnv, hang)
	if len(held) != 1+heldWorkers {
		t.Errorf("the helper held %v, want poold and %d workers", held, heldWorkers)
	}
	if len(left) > 0 {
		t.Fatalf("poold (pid %d) and its workers %v, of a test binary that died, still ran %v later: %v", held[0], held[1:], hang, left)
	}
}
