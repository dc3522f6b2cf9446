package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/poold/poold/arbiter/controller/ctlclient"
	"github.com/poold/poold/watcher/proctest"
)

// pidsRoot is where this machine and CI mount cgroup v1's pids controller
// (the v2 hierarchy at /sys/fs/cgroup/unified has no pids controller here).
const pidsRoot = "/sys/fs/cgroup/pids"

// pidsCgroup is a child cgroup of the pids controller made by a test.
type pidsCgroup struct {
	t   testing.TB
	dir string
}

// newPidsCgroup makes a pids cgroup that the test removes when it ends,
// once every process in it has gone. Without the controller (or the right
// to make a cgroup) the test is skipped, and fails under CI=true.
func newPidsCgroup(t testing.TB) *pidsCgroup {
	t.Helper()
	unavailable := func(err error) {
		t.Helper()
		if os.Getenv("CI") == "true" {
			t.Fatalf("no pids cgroup to run poold in: %v; CI must mount cgroup v1's pids controller at %s and run the tests as root", err, pidsRoot)
		}
		t.Skipf("no pids cgroup to run poold in: %v", err)
	}
	if _, err := os.Stat(filepath.Join(pidsRoot, "cgroup.procs")); err != nil {
		unavailable(err)
	}
	dir, err := os.MkdirTemp(pidsRoot, "poold-test-")
	if err != nil {
		unavailable(err)
	}
	cg := &pidsCgroup{t: t, dir: dir}
	t.Cleanup(cg.remove)
	return cg
}

func (cg *pidsCgroup) write(file, value string) {
	cg.t.Helper()
	if err := os.WriteFile(filepath.Join(cg.dir, file), []byte(value), 0o644); err != nil {
		cg.t.Fatalf("cgroup %s: %v", cg.dir, err)
	}
}

func (cg *pidsCgroup) read(file string) string {
	cg.t.Helper()
	b, err := os.ReadFile(filepath.Join(cg.dir, file))
	if err != nil {
		cg.t.Fatalf("cgroup %s: %v", cg.dir, err)
	}
	return strings.TrimSpace(string(b))
}

// current is how many tasks (threads included) the cgroup holds.
func (cg *pidsCgroup) current() int {
	cg.t.Helper()
	n, err := strconv.Atoi(cg.read("pids.current"))
	if err != nil {
		cg.t.Fatalf("cgroup %s: pids.current: %v", cg.dir, err)
	}
	return n
}

// procs lists the processes in the cgroup.
func (cg *pidsCgroup) procs() []int {
	cg.t.Helper()
	var pids []int
	for _, f := range strings.Fields(cg.read("cgroup.procs")) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			cg.t.Fatalf("cgroup %s: cgroup.procs: %q", cg.dir, f)
		}
		pids = append(pids, pid)
	}
	return pids
}

// remove waits for the cgroup to empty, killing by pid what is left (only
// processes this test started, and theirs, ever entered it), then removes
// it.
func (cg *pidsCgroup) remove() {
	if !proctest.Poll(hang, func() bool { return len(cg.procs()) == 0 }) {
		left := cg.procs()
		cg.t.Errorf("processes %v still in cgroup %s after poold ended", left, cg.dir)
		for _, pid := range left {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		proctest.Eventually(cg.t, "cgroup "+cg.dir+" empty", func() bool { return len(cg.procs()) == 0 })
	}
	if err := os.Remove(cg.dir); err != nil {
		cg.t.Errorf("remove cgroup: %v", err)
	}
}

// slotCounts counts the slots of watcher name that have a worker, and those
// whose last exit is a spawn error naming the pids limit.
func slotCounts(t *testing.T, c *ctlclient.Client, name string) (live, limited int) {
	t.Helper()
	r := call(t, c, "status", map[string]any{"name": name})
	slots, ok := r["slots"].([]any) // "status" holds the watcher's
	if !ok {
		t.Fatalf("status %s: %v", name, r)
	}
	for _, s := range slots {
		row, _ := s.(map[string]any)
		if pid, _ := row["pid"].(float64); pid > 0 {
			live++
		}
		if exit, _ := row["last_exit"].(string); strings.Contains(exit, "spawn error") && strings.Contains(exit, "pids.max") {
			limited++
		}
	}
	return live, limited
}

// TestPidsLimit runs the real poold in a cgroup with a small pids.max and
// scales a watcher well past it: poold must keep running and answering,
// the slots that do not fit must show spawn errors naming the limit, a
// decr must bring it back, and SIGTERM must stop it with status 0 and
// leave nothing in the cgroup.
func TestPidsLimit(t *testing.T) {
	cg := newPidsCgroup(t)
	// poold keeps a reserve of pids for its own threads (watcher/spawn's
	// pidsReserve) and refuses to fork into it: fewer than room workers fit.
	const room, extra = 30, 20
	p := startPoold(t, `
[arbiter]
ENDPOINTS
[watchers.sleepers]
cmd = "sleep"
args = ["3600"]
numprocesses = 0
backoff_min = "100ms"
backoff_max = "1s"
graceful_timeout = "5s"
`)
	c := dialControl(t, p)
	call(t, c, "status", nil) // up, and no worker yet
	cg.write("cgroup.procs", strconv.Itoa(p.cmd.Process.Pid))
	limit := cg.current() + room // poold's own threads, and room for some workers
	cg.write("pids.max", strconv.Itoa(limit))

	scalePastLimit(t, c, cg, limit, room, room+extra)

	call(t, c, "decr", map[string]any{"name": "sleepers", "nb": room + extra})
	proctest.Eventually(t, "every worker stopped after decr", func() bool {
		live, _ := slotCounts(t, c, "sleepers")
		return live == 0 && len(cg.procs()) == 1
	})
	// The runtime may have added threads while forks failed (a loaded
	// machine blocks more of them in syscalls): measure poold again, so
	// that the room left is room for workers, not for those threads.
	cg.write("pids.max", strconv.Itoa(cg.current()+room))
	call(t, c, "incr", map[string]any{"name": "sleepers", "nb": 2})
	proctest.Eventually(t, "2 workers within the limit", func() bool {
		live, limited := slotCounts(t, c, "sleepers")
		return live == 2 && limited == 0
	})

	stopInCgroup(t, p, cg)
}

// scalePastLimit asks for nb sleepers where only room fit (less poold's
// reserve): some slots must be refused naming pids.max while poold keeps
// answering, and the cgroup must stay within its limit.
func scalePastLimit(t *testing.T, c *ctlclient.Client, cg *pidsCgroup, limit, room, nb int) {
	t.Helper()
	call(t, c, "incr", map[string]any{"name": "sleepers", "nb": nb})
	proctest.Eventually(t, "a slot refused for the pids limit", func() bool {
		_, limited := slotCounts(t, c, "sleepers")
		return limited > 0
	})
	for range 20 { // poold keeps answering while spawns keep failing
		if live, _ := slotCounts(t, c, "sleepers"); live >= room {
			t.Fatalf("%d workers with room for %d and poold's reserve", live, room)
		}
	}
	live, limited := slotCounts(t, c, "sleepers")
	n := cg.current()
	t.Logf("pids.max %d: %d workers, %d slots refused, pids.current %d (poold's threads: %d)", limit, live, limited, n, n-live)
	if n > limit {
		t.Errorf("pids.current %d above pids.max %d", n, limit)
	}
}

// stopInCgroup checks that poold still runs, then that SIGTERM makes it
// exit 0 leaving nothing in its cgroup and no runtime abort in its log.
func stopInCgroup(t *testing.T, p *proc, cg *pidsCgroup) {
	t.Helper()
	select {
	case <-p.done:
		t.Fatalf("poold exited: %v", p.err)
	default:
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
	if left := cg.procs(); len(left) != 0 {
		t.Errorf("processes %v left in the cgroup after poold exited", left)
	}
	for _, bad := range []string{"newosproc", "fatal error"} {
		if strings.Contains(p.log.String(), bad) {
			t.Errorf("poold's log holds %q", bad)
		}
	}
}
