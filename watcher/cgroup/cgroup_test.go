package cgroup

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/watcher/proctest"
)

func TestV2Dir(t *testing.T) {
	hybrid := "30 22 0:27 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n" +
		"34 30 0:31 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n" +
		"40 30 0:37 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n"
	pure := "30 22 0:27 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"
	nested := "30 22 0:27 /system.slice /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"
	for _, c := range []struct {
		name, cgroup, mountinfo, dir string
		ok                           bool
	}{
		{"hybrid", "4:memory:/x\n0::/\n", hybrid, "/sys/fs/cgroup/unified", true},
		{"pure", "0::/system.slice/poold.service\n", pure, "/sys/fs/cgroup/system.slice/poold.service", true},
		{"namespaced", "0::/system.slice/poold.service\n", nested, "/sys/fs/cgroup/poold.service", true},
		{"elsewhere", "0::/user.slice\n", nested, "", false},
		{"v1 only", "4:memory:/x\n", hybrid, "", false},
		{"no cgroup2", "0::/\n", "34 30 0:31 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n", "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir, _, ok := V2Dir(c.cgroup, c.mountinfo)
			if ok != c.ok || dir != c.dir {
				t.Fatalf("V2Dir = %q, %v; want %q, %v", dir, ok, c.dir, c.ok)
			}
		})
	}
}

// openTree opens a tree for a test, or skips when this machine cannot
// make cgroups (a failure under CI=true: CI must exercise this path).
func openTree(t *testing.T, name string) *Tree {
	t.Helper()
	tr, _, err := Open(name, 5*time.Second)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no cgroup v2 tree: %v; CI runs as root with cgroup2 mounted", err)
		}
		t.Skipf("no cgroup v2 tree: %v", err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// startIn starts a shell script in g, the way the spawner does.
func startIn(t *testing.T, g *Group, script string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: g.FD(), Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

func testName(t *testing.T) string {
	return fmt.Sprintf("%stest-%d-%s", TreePrefix, os.Getpid(), strings.ReplaceAll(t.Name(), "/", "_"))
}

// A setsid'd, double-forked descendant is in the worker's cgroup from the
// start and dies with cgroup.kill; the cgroup then reports empty.
func TestKillTakesSetsidDescendants(t *testing.T) {
	tr := openTree(t, testName(t))
	g, err := tr.NewGroup("w", 1, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	pidfile := filepath.Join(t.TempDir(), "daemon")
	cmd := startIn(t, g, `setsid sh -c 'sleep 1000 & echo $! > `+pidfile+`' ; exec sleep 1000`)
	var daemon int
	proctest.Eventually(t, "the daemon's pid file", func() bool {
		b, err := os.ReadFile(pidfile)
		_, err2 := fmt.Sscan(string(b), &daemon)
		return err == nil && err2 == nil
	})
	if !contains(g.Pids(), daemon) {
		t.Fatalf("daemon %d is not in the worker's cgroup %v", daemon, g.Pids())
	}
	if err := g.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if err := g.WaitEmpty(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	proctest.Eventually(t, "daemon gone", func() bool { return !proctest.Alive(daemon) })
	if err := g.Remove(); err != nil {
		t.Fatal(err)
	}
}

// A tree a dead poold left is swept by the next Open: its processes are
// killed and its cgroups removed. A tree in use is refused.
func TestOpenSweepsLeftovers(t *testing.T) {
	name := testName(t)
	tr := openTree(t, name)
	if _, _, err := Open(name, time.Second); err == nil || !strings.Contains(err.Error(), "in use by another poold") {
		t.Fatalf("second Open of a locked tree: %v, want 'in use by another poold'", err)
	}
	g, err := tr.NewGroup("w", 1, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	cmd := startIn(t, g, `exec sleep 1000`)
	tr.lock.Close() // as if poold had died: the lock goes with it
	tr2, left, err := Open(name, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer tr2.Close()
	if left.Cgroups != 1 || len(left.Pids) != 1 || left.Pids[0] != cmd.Process.Pid {
		t.Fatalf("leftover %+v, want 1 cgroup with pid %d", left, cmd.Process.Pid)
	}
	_ = cmd.Wait()
	if _, err := os.Stat(g.Dir); !os.IsNotExist(err) {
		t.Fatalf("leftover cgroup %s still there: %v", g.Dir, err)
	}
}

func contains(xs []int, x int) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// Limits land in the worker's cgroup: cgroup v2's files where its
// controllers are offered, cgroup v1's on a hybrid host like CI's. A
// process started by the spawner's way (clone into the v2 group, then
// moved into the v1 groups by pid) is in every one of them.
func TestLimitsApplied(t *testing.T) {
	tr := openTree(t, testName(t))
	g, err := tr.NewGroup("w", 1, Limits{MemoryMax: 64 << 20, PidsMax: 7, CPUMax: 50})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"memory.max": "67108864", "memory.limit_in_bytes": "67108864", "pids.max": "7",
		"cpu.max": "50000 100000", "cpu.cfs_quota_us": "50000"}
	seen := 0
	for _, d := range append([]string{g.Dir}, g.V1Dirs()...) {
		for file, v := range want {
			b, err := os.ReadFile(filepath.Join(d, file))
			if err != nil {
				continue
			}
			seen++
			if got := strings.TrimSpace(string(b)); got != v {
				t.Errorf("%s/%s = %q, want %q", d, file, got, v)
			}
		}
	}
	if seen != 3 {
		t.Fatalf("found %d of the 3 limits in %s and %v", seen, g.Dir, g.V1Dirs())
	}
	cmd := exec.Command("/bin/sh", "-c", "exec sleep 1000")
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: g.FD()}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if err := JoinV1(cmd.Process.Pid, g.V1Dirs()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for _, d := range g.V1Dirs() {
		b, _ := os.ReadFile(filepath.Join(d, "cgroup.procs"))
		if strings.TrimSpace(string(b)) != fmt.Sprint(cmd.Process.Pid) {
			t.Errorf("%s holds %q, want only pid %d", d, b, cmd.Process.Pid)
		}
	}
	if err := g.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if err := g.WaitEmpty(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := g.Remove(); err != nil {
		t.Fatal(err)
	}
}

// The empty tree of another config whose poold is gone is removed by the
// next poold's Open; a tree still locked, or holding a process, stays.
func TestOpenPrunesStaleEmptyTrees(t *testing.T) {
	base := testName(t)
	stale := openTree(t, base+"-stale")
	if _, err := stale.NewGroup("w", 1, Limits{}); err != nil {
		t.Fatal(err)
	}
	stale.lock.Close() // its poold died
	busy := openTree(t, base+"-busy")
	if _, err := busy.NewGroup("w", 1, Limits{}); err != nil {
		t.Fatal(err)
	}
	// Not a tree (another tool's, or a test's pids cgroup): never pruned.
	other := filepath.Join(filepath.Dir(stale.Dir), fmt.Sprintf("poold-other-%d", os.Getpid()))
	if err := os.Mkdir(other, 0o755); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(other)
	openTree(t, base+"-new")
	if _, err := os.Stat(other); err != nil {
		t.Errorf("cgroup %s, no tree of poold's, was removed: %v", other, err)
	}
	if _, err := os.Stat(stale.Dir); !os.IsNotExist(err) {
		t.Errorf("stale empty tree %s still there: %v", stale.Dir, err)
	}
	if _, err := os.Stat(busy.Dir); err != nil {
		t.Errorf("tree %s of a live poold was removed: %v", busy.Dir, err)
	}
}

// BenchmarkOpenSweeps1000 is the start of a poold after one with 1,000
// workers was SIGKILLed: its next Open kills and removes 1,000 leftover
// cgroups (here empty, as a killed poold's are once the kernel has killed
// its workers) before poold binds its sockets.
func BenchmarkOpenSweeps1000(b *testing.B) {
	const n = 1000
	name := fmt.Sprintf("bench-sweep-%d", os.Getpid())
	for b.Loop() {
		b.StopTimer()
		tr, _, err := Open(name, 5*time.Second)
		if err != nil {
			b.Skipf("no cgroup v2 tree: %v", err)
		}
		for i := range n {
			g, err := tr.NewGroup("w", i, Limits{})
			if err != nil {
				b.Fatal(err)
			}
			g.CloseFD()
		}
		tr.lock.Close() // as if poold had died
		b.StartTimer()
		tr2, left, err := Open(name, 5*time.Second)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if left.Cgroups != n {
			b.Fatalf("swept %d cgroups, want %d", left.Cgroups, n)
		}
		tr2.Close()
		b.StartTimer()
	}
}
