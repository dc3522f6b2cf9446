package arbiter

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

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
	var pids []string
	for pid := range h.spawns(heldWorkers) {
		pids = append(pids, strconv.Itoa(pid))
	}
	fmt.Println("held", strings.Join(pids, " "))
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
	marker := fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano())
	c := exec.Command(os.Args[0], "-test.run=^TestHelperHoldsWorkers$", "-test.timeout=10m")
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
	if len(pids) != heldWorkers {
		t.Fatalf("the helper did not report its %d workers within %v: %v", heldWorkers, hang, pids)
	}
	alive := func() []int { return proctest.Marked(pids, holdEnv+"="+marker) }
	if !proctest.Poll(hang, func() bool { return len(alive()) == 0 }) {
		left := alive()
		for _, pid := range left {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		t.Fatalf("%d of the %d workers of a test binary that died still ran %v later: %v", len(left), heldWorkers, hang, left)
	}
}
