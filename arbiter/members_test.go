package arbiter

import (
	"fmt"
	"os"
	"slices"
	"testing"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/procinfo"
	"github.com/poold/poold/watcher/proctest"
	"golang.org/x/sys/unix"
)

// TestOwnerOf: a process's cgroup path is its worker's when it ends with
// the worker's tree and cgroup directories (from /proc/PID/cgroup, the
// path starts where the cgroup namespace does, not at the mount), or
// holds them with a cgroup the worker made below; a name that only ends
// like one, or the tree alone, is no worker's.
func TestOwnerOf(t *testing.T) {
	owners := map[string]int{
		cgroupKey("/sys/fs/cgroup/unified/system.slice/app/w-web.1.7"): 10,
		cgroupKey("/sys/fs/cgroup/app/w-web.2.8"):                      20,
	}
	for path, want := range map[string]int{
		"/system.slice/app/w-web.1.7":       10,
		"/app/w-web.1.7":                    10,
		"/app/w-web.2.8/inner/deeper":       20,
		"/system.slice/xapp/w-web.1.7":      0,
		"/system.slice/app/w-web.1.77":      0,
		"/system.slice/app":                 0,
		"/system.slice/app/poold-leaf":      0,
		"/":                                 0,
		"":                                  0,
		"/system.slice//app/w-web.1.7":      10,
		"/system.slice/app/w-web.1.7/":      10,
		"/system.slice/other/app/w-web.2.8": 20,
	} {
		got, ok := ownerOf([]byte(path), owners)
		if ok != (want != 0) || got != want {
			t.Errorf("ownerOf(%q) = %d, %v; want %d", path, got, ok, want)
		}
	}
}

// subreaperHarness starts an arbiter as poold's binary runs one: the
// subreaper of its workers' orphans. The test process stays one only
// until the test ends.
func subreaperHarness(t *testing.T, cfg *configs.Config) *harness {
	t.Helper()
	t.Cleanup(func() { // after the arbiter has stopped: cleanups run last first
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0); err != nil {
			t.Errorf("stop being a subreaper: %v", err)
		}
	})
	h := start(t, cfg, Options{ReapOrphans: true})
	needContainment(t, h)
	if !h.a.subreaper.Load() {
		t.Fatal("the arbiter did not become the subreaper of its workers' orphans")
	}
	return h
}

// TestDaemonOfWorkerCountsFromPooldsChildren: as the subreaper, poold
// has a worker's daemonized descendant as its own child; a sample finds
// it there, reads its cgroup, and lists it under its worker in stats and
// in the tree metrics, without reading any worker's cgroup.procs.
func TestDaemonOfWorkerCountsFromPooldsChildren(t *testing.T) {
	w, file := daemonizingWatcher(t, "sleep")
	h := subreaperHarness(t, &configs.Config{Watchers: []configs.Watcher{w}})
	worker := h.next("spawn", nil).Fields["process_pid"]
	daemon := daemonPid(t, file)
	if !proctest.Poll(hang, func() bool { return slices.Contains(procinfo.Children(os.Getpid()), daemon) }) {
		t.Fatalf("the daemon %d did not become this process's child (its subreaper's) within %v", daemon, hang)
	}
	var got []int
	if !proctest.Poll(hang, func() bool {
		r := h.do("stats", map[string]any{"name": "web"})
		in, ok := r["info"].(map[string]ProcInfo)[fmt.Sprint(worker)]
		got = treePids(in.Children)
		return ok && slices.Contains(got, daemon)
	}) {
		t.Fatalf("stats web: worker %v's tree is %v, want the daemon %d, poold's child, in it", worker, got, daemon)
	}
	wpid, _ := worker.(int)
	if n := waitTreeProcesses(t, h, wpid, 2); n != 2 {
		t.Errorf("metrics: worker %v's tree counts %d processes, want 2, the daemon %d too", worker, n, daemon)
	}
	if r := h.a.memberReads.procs.Load(); r != 0 {
		t.Errorf("samples read %d cgroup.procs files, want none: the daemon is poold's child", r)
	}
	if r := h.a.memberReads.others.Load(); r == 0 {
		t.Error("samples read no cgroup of poold's children that are no worker, yet the daemon is one")
	}
}

// TestStatsReadNoCgroupProcsWithoutDaemons: as the subreaper, with no
// child but its workers, a sample reads no worker's cgroup.procs (each
// cost ~17 µs: 170 ms of every stats and scrape at 10,000 workers).
func TestStatsReadNoCgroupProcsWithoutDaemons(t *testing.T) {
	w := testWatcher("web", "sleep", 3)
	w.PidsMax = 1000 // a cgroup each
	h := subreaperHarness(t, &configs.Config{Watchers: []configs.Watcher{w}})
	pids := readyPids(t, h, "web", 3)
	for range 3 {
		r := h.do("stats", map[string]any{"name": "web"})
		if n := len(r["info"].(map[string]ProcInfo)); n != len(pids) {
			t.Fatalf("stats web lists %d workers, want %d", n, len(pids))
		}
		snap, err := h.a.Snapshot(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		h.a.WorkerUsage(snap)
	}
	if r := h.a.memberReads.procs.Load(); r != 0 {
		t.Errorf("3 stats and 3 scrapes read %d cgroup.procs files of 3 workers, want none: poold has no child but its workers", r)
	}
}
