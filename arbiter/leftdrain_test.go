package arbiter

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher/proctest"
)

// forkingMaster is a master, in the shape of gunicorn's, that forks one
// worker. With "lose" it is then killed by SIGKILL (as by kill -9 or the
// OOM killer); with "hold" it waits for the test to kill it. Its worker
// answers each SIGTERM or SIGINT by adding an x to dir/term and, in mode
// "finish", exiting as a worker that finished its request; in mode
// "grow", allocating 256 MiB (a request that grows as it finishes) and
// exiting; in mode "linger" it stays. The slot's next master just sleeps.
const forkingMaster = `
import os, signal, sys, time
d, mode, end = sys.argv[1], sys.argv[2], sys.argv[3]
if os.path.exists(d + "/started"):
    time.sleep(3600)
open(d + "/started", "w").close()
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    def term(*_):
        with open(d + "/term", "a") as f:
            f.write("x")
        if mode == "spawn":  # a shutdown hook that starts a helper and returns
            import subprocess
            h = subprocess.Popen(["sleep", "300"])
            with open(d + "/helper.tmp", "w") as f:
                f.write("%d\n" % h.pid)
            os.rename(d + "/helper.tmp", d + "/helper.pid")
            os._exit(0)
        if mode == "grow":
            b = b"x" * (256 << 20)
        if mode in ("finish", "grow"):
            os._exit(0)
    signal.signal(signal.SIGTERM, term)
    signal.signal(signal.SIGINT, term)
    os.write(w, b"x")
    while True:
        time.sleep(3600)
os.read(r, 1)
with open(d + "/child.tmp", "w") as f:
    f.write("%d\n" % pid)
os.rename(d + "/child.tmp", d + "/child.pid")
if end == "lose":
    os.kill(os.getpid(), signal.SIGKILL)
time.sleep(3600)
`

// startLostMaster runs watcher m, one forkingMaster losing itself in mode with grace, and
// returns its dir, its reap event and its worker's pid.
func startLostMaster(t *testing.T, mode string, grace time.Duration) (*harness, string, events.Event, int) {
	t.Helper()
	dir := t.TempDir()
	w := configs.DefaultWatcher("m")
	w.Cmd = proctest.Tool(t, "/usr/bin/python3", "python3")
	w.Args = []string{"-c", forkingMaster, dir, mode, "lose"}
	w.GracefulTimeout = grace
	h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{})
	needCgroups(t, h)
	ev := h.next("reap", func(e events.Event) bool { return e.Watcher == "m" })
	child := readPid(t, dir, "child.pid")
	t.Cleanup(func() { _ = syscall.Kill(child, syscall.SIGKILL) })
	why := fmt.Sprint(ev.Fields["exit_reason"])
	want := fmt.Sprintf("killed by signal KILL, leaving 1 process(es) running, which poold sent TERM (SIGKILL to those left after graceful_timeout %v)", grace)
	if why != want {
		t.Errorf("exit_reason %q, want %q", why, want)
	}
	return h, dir, ev, child
}

// A gunicorn master killed by kill -9 left its workers, which poold
// SIGKILLed at once, cutting the requests they held (13-40 client 502s
// through nginx); gunicorn's workers would have finished them and exited.
// They now get the watcher's stop_signal, as in a stop, while the slot's
// next master starts at once.
func TestKilledMastersWorkerGetsStopSignalAndFinishes(t *testing.T) {
	h, dir, _, child := startLostMaster(t, "finish", time.Hour)
	h.spawned() // the replacement, without waiting for the hour
	proctest.Eventually(t, "the dead master's worker to get SIGTERM", func() bool {
		_, err := os.Stat(filepath.Join(dir, "term"))
		return err == nil
	})
	proctest.Eventually(t, "the dead master's worker to exit", func() bool { return !proctest.Alive(child) })
	proctest.Eventually(t, "the log to say it ended", func() bool {
		return strings.Contains(h.log.String(), "what a worker killed by a signal left has ended within graceful_timeout")
	})
}

// One that lingers after the stop signal is SIGKILLed at graceful_timeout,
// not before, and runs meanwhile in its dead master's cgroup beside the
// next master, which has a cgroup of its own.
func TestKilledMastersLingeringWorkerIsKilledAfterGrace(t *testing.T) {
	h, dir, _, child := startLostMaster(t, "linger", 8*time.Second)
	next := h.spawned()
	proctest.Eventually(t, "the dead master's worker to get SIGTERM", func() bool {
		_, err := os.Stat(filepath.Join(dir, "term"))
		return err == nil
	})
	if !proctest.Alive(child) {
		t.Fatalf("the dead master's worker %d was killed before graceful_timeout", child)
	}
	if a, b := cgroupOf(t, child), cgroupOf(t, next); a == b {
		t.Errorf("the leftover %d and the next master %d share cgroup %s", child, next, a)
	}
	proctest.Eventually(t, "the lingering worker to be killed", func() bool { return !proctest.Alive(child) })
	proctest.Eventually(t, "the log to say poold killed it", func() bool {
		return strings.Contains(h.log.String(), "poold killed what a worker killed by a signal left, still running at graceful_timeout") &&
			strings.Contains(h.log.String(), "killed=1")
	})
	if !proctest.Alive(next) {
		t.Errorf("the next master %d was killed with its predecessor's leftover", next)
	}
}

// cgroupOf is the v2 cgroup of pid.
func cgroupOf(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "0::") {
			return l
		}
	}
	t.Fatalf("pid %d has no v2 cgroup: %q", pid, b)
	return ""
}
