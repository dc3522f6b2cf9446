package procinfo

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/watcher/proctest"
	"github.com/prometheus/procfs"
)

// startDaemonizer starts a shell whose child setsid-double-forks a
// `sleep`: the sleep's parent becomes init (or a subreaper), so no tree
// by parent reaches it. It returns the shell's pid and the daemon's, and
// kills both, by pid, when the test ends.
func startDaemonizer(t *testing.T) (worker, daemon int) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "daemon.pid")
	sh := exec.Command("/bin/sh", "-c", `setsid /bin/sh -c 'sleep 3600 </dev/null >/dev/null 2>&1 & echo $! > "$1.tmp"; mv "$1.tmp" "$1"' sh "$0"; exec sleep 3600`, file)
	if err := sh.Start(); err != nil {
		t.Fatalf("start the daemonizing shell: %v", err)
	}
	t.Cleanup(func() { _ = sh.Process.Kill(); _ = sh.Wait() })
	var b []byte
	if !proctest.Poll(hangTest, func() bool {
		var err error
		b, err = os.ReadFile(file)
		return err == nil
	}) {
		t.Fatalf("the daemon's pid file %s did not appear within %v", file, hangTest)
	}
	daemon, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("daemon pid file %s: %q: %v", file, b, err)
	}
	t.Cleanup(func() { _ = syscall.Kill(daemon, syscall.SIGKILL) })
	// The setsid shell exits after the fork: the daemon is reparented.
	if !proctest.Poll(hangTest, func() bool {
		st, err := readStat("/proc", daemon, make([]byte, statBufSize))
		return err == nil && st.PPID != sh.Process.Pid && !isChildOf(daemon, sh.Process.Pid)
	}) {
		t.Fatalf("daemon %d still under the shell %d after %v", daemon, sh.Process.Pid, hangTest)
	}
	return sh.Process.Pid, daemon
}

const hangTest = 30 * time.Second

// isChildOf says whether pid's parent is parent's child (the setsid
// shell, before it exits).
func isChildOf(pid, parent int) bool {
	st, err := readStat("/proc", pid, make([]byte, statBufSize))
	if err != nil {
		return false
	}
	pst, err := readStat("/proc", st.PPID, make([]byte, statBufSize))
	return err == nil && pst.PPID == parent
}

// TestMembersJoinTheTree: a worker's descendant that daemonized (setsid
// and a double fork) left the tree by parent, and with it max_rss,
// max_cpu, stats and the tree metrics. The worker's cgroup still holds
// it: given as a member, it is listed under the worker.
func TestMembersJoinTheTree(t *testing.T) {
	worker, daemon := startDaemonizer(t)
	members := Members{worker: {worker, daemon}}
	s := New()
	for _, full := range []bool{true, false} { // after a full scan, then from known trees
		if full {
			s.scanAt = time.Time{}
		}
		m, err := s.Sample([]int{worker})
		if err != nil {
			t.Fatal(err)
		}
		if got := pidsOf(m[worker].Children); slices.Contains(got, daemon) {
			t.Fatalf("without members the tree of %d holds the daemon %d: %v; the test shows nothing", worker, daemon, got)
		}
		m, err = s.SampleWith([]int{worker}, members)
		if err != nil {
			t.Fatal(err)
		}
		if got := pidsOf(m[worker].Children); !slices.Contains(got, daemon) {
			t.Errorf("full scan %v: children of %d = %v, want the daemonized member %d among them", full, worker, got, daemon)
		}
		tu, err := s.ReadTreeUsageWith([]int{worker}, members)
		if err != nil {
			t.Fatal(err)
		}
		if got := tu[worker].Members; !slices.Contains(got, daemon) || tu[worker].Processes != len(got) {
			t.Errorf("full scan %v: tree usage of %d has members %v (%d processes), want the daemon %d among them",
				full, worker, got, tu[worker].Processes, daemon)
		}
	}
}

// TestStraysLeaveZombiesOut: a member not reaped yet (found as poold's
// child, which its orphan reaper has still to reap) is no subtree's
// root; a running one is, and so is none whose parent is a missed member.
func TestStraysLeaveZombiesOut(t *testing.T) {
	stats := map[int]procfs.ProcStat{
		10: {PID: 10, PPID: 1, State: "S"},
		11: {PID: 11, PPID: 1, State: "Z"},
		12: {PID: 12, PPID: 10, State: "R"},
		13: {PID: 13, PPID: 1, State: "X"},
	}
	if got := straysOf([]int{13, 12, 11, 10, 14}, map[int]bool{}, stats); !slices.Equal(got, []int{10}) {
		t.Errorf("straysOf: %v, want [10]: 11 and 13 ended, 12 is under 10, 14 is gone", got)
	}
}
