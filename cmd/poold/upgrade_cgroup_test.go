package main

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/poold/poold/watcher/proctest"
)

// lateHogConfig is a worker under memory_max that waits for SIGUSR1, then
// becomes the test binary's leaking worker (the OOM killer ends it).
const lateHogConfig = `
[arbiter]
ENDPOINTS
[sockets.web]
port = 0
[watchers.hog]
cmd = "/bin/sh"
args = ["-c", "trap 'kill $!; exec \"$0\"' USR1; sleep 1000 & wait $!; exit 3", @WORKER@]
sockets = ["web"]
env = ["POOLD_TEST_WORKER=leak"]
memory_max = "24M"
`

// A worker started before an upgrade and killed by the OOM killer after
// it is reported as such: the new image reads the OOM kills of the
// worker's cgroup where the old one made it (a cgroup v1 memory
// hierarchy on a hybrid host, not the v2 directory alone), and its
// replacement starts in the same cgroup without counting them again.
func TestUpgradeKeepsTheOOMReasonOfAdoptedWorkers(t *testing.T) {
	p := startUpgradable(t, lateHogConfig)
	if !strings.Contains(p.log.String(), "containment: a cgroup per worker") {
		if os.Getenv("CI") == "true" {
			t.Fatalf("poold could not make cgroups; CI runs as root with cgroup2 mounted:\n%s", p.log.String())
		}
		t.Skip("poold could not make cgroups here")
	}
	proctest.Eventually(t, "1 worker", func() bool { return len(p.pids("hog")) == 1 })
	pid := p.pids("hog")[0]
	first := cgroupOf(t, pid)
	if o, refused := p.upgrade(); refused != nil || o["state"] != "upgraded" {
		t.Fatalf("upgrade: %v %v", o, refused)
	}
	if err := syscall.Kill(pid, syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	ended := regexp.MustCompile(`worker ended[^\n]*reason="([^"]*)"`)
	var m [][]string
	proctest.Eventually(t, "the worker's end in the log", func() bool {
		m = ended.FindAllStringSubmatch(p.log.String(), -1)
		return len(m) >= 1
	})
	if got := m[0][1]; !strings.HasPrefix(got, "killed by the OOM killer") {
		t.Fatalf("the adopted worker's end after the upgrade: %q, want killed by the OOM killer", got)
	}
	// Its replacement starts in the same cgroup and, across another
	// upgrade, ends by a plain SIGKILL: the OOM kill is not counted again.
	var next int
	proctest.Eventually(t, "the replacement", func() bool {
		pids := p.pids("hog")
		if len(pids) == 1 && pids[0] != pid {
			next = pids[0]
		}
		return next != 0
	})
	if c := cgroupOf(t, next); c != first {
		t.Fatalf("the replacement runs in cgroup %s, not its slot's %s", c, first)
	}
	if o, refused := p.upgrade(); refused != nil || o["state"] != "upgraded" {
		t.Fatalf("second upgrade: %v %v", o, refused)
	}
	if err := syscall.Kill(next, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	proctest.Eventually(t, "the replacement's end in the log", func() bool {
		m = ended.FindAllStringSubmatch(p.log.String(), -1)
		return len(m) >= 2
	})
	if got := m[1][1]; !strings.HasPrefix(got, "killed by signal KILL") {
		t.Fatalf("the replacement's end: %q, want killed by signal KILL (its sleep left behind, killed)", got)
	}
}

// cgroupOf is the cgroup v2 path of pid.
func cgroupOf(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if c, ok := strings.CutPrefix(line, "0::"); ok {
			return c
		}
	}
	t.Fatalf("pid %d: no cgroup v2 line in %q", pid, b)
	return ""
}
