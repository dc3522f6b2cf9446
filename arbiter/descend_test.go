package arbiter

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/procinfo"
	"github.com/poold/poold/watcher/proctest"
)

// daemonizingWatcher is watcher "web": one worker, a shell whose child
// setsid-double-forks this test binary in workertest mode (the daemon,
// reparented to poold or init, out of the worker's tree by parent) and
// writes the daemon's pid to the returned file; the shell then sleeps.
// pids_max gives each worker a cgroup of its own.
func daemonizingWatcher(t *testing.T, mode string) (configs.Watcher, string) {
	file := filepath.Join(t.TempDir(), "daemon.pid")
	w := testWatcher("web", mode, 1)
	w.Cmd = "/bin/sh"
	w.Args = []string{"-c",
		`setsid /bin/sh -c '"$0" </dev/null & echo $! > "$1.tmp"; mv "$1.tmp" "$1"' "$0" "$1"; exec sleep 3600`,
		os.Args[0], file}
	w.PidsMax = 1000
	return w, file
}

// daemonPid waits for the daemon's pid file.
func daemonPid(t *testing.T, file string) int {
	t.Helper()
	var pid int
	if !proctest.Poll(hang, func() bool {
		b, err := os.ReadFile(file)
		if err != nil {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil
	}) {
		t.Fatalf("the worker's daemon wrote no pid to %s within %v", file, hang)
	}
	return pid
}

// TestLimitSeesDaemonizedDescendant: max_rss judged the worker's tree by
// parent pid, which a descendant that daemonized (setsid and a double
// fork: its parent becomes poold, a subreaper, or init) leaves. It
// leaked past max_rss for ever. Its worker's cgroup still holds it: the
// worker is replaced, and the reason names the daemon.
func TestLimitSeesDaemonizedDescendant(t *testing.T) {
	w, file := daemonizingWatcher(t, "hoard")
	w.MaxRSS = 64 << 20
	w.LimitThreshold = 2
	w.BackoffReset = 100 * time.Millisecond // past this, a slow leak: replaced rolling
	h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{})
	needContainment(t, h)
	sampleEvery(t, h, 50*time.Millisecond)
	first := h.next("spawn", nil).Fields["process_pid"]
	daemon := daemonPid(t, file)
	ev := h.next("recycle", nil)
	reason, _ := ev.Fields["reason"].(string)
	if ev.Fields["process_pid"] != first || !strings.Contains(reason, "over max_rss") || !strings.Contains(reason, fmt.Sprintf("pid %d,", daemon)) {
		t.Errorf("recycle event %v, want worker %v over max_rss in the daemonized pid %d", ev.Fields, first, daemon)
	}
}

// TestStatsListDaemonizedDescendant: stats listed a worker's tree by
// parent pid only; a descendant that daemonized was missing. Its
// worker's cgroup holds it: stats lists it under the worker.
func TestStatsListDaemonizedDescendant(t *testing.T) {
	w, file := daemonizingWatcher(t, "sleep")
	h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{})
	needContainment(t, h)
	worker := h.next("spawn", nil).Fields["process_pid"]
	daemon := daemonPid(t, file)
	var got []int
	if !proctest.Poll(hang, func() bool {
		r := h.do("stats", map[string]any{"name": "web"})
		in, ok := r["info"].(map[string]ProcInfo)[fmt.Sprint(worker)]
		if !ok {
			return false
		}
		got = treePids(in.Children)
		return slices.Contains(got, daemon)
	}) {
		t.Fatalf("stats web: worker %v's tree is %v, want the daemonized pid %d in it", worker, got, daemon)
	}
	// Once its shell has exec'd sleep and the setsid shell has gone, the
	// worker's tree by parent is 1 process; with the daemon, 2 (3 or 4
	// while the setsid shell still runs, which holds the daemon).
	wpid, ok := worker.(int)
	if !ok {
		t.Fatalf("spawn event's process_pid is %T %v, want an int", worker, worker)
	}
	if n := waitTreeProcesses(t, h, wpid, 2); n != 2 {
		t.Errorf("metrics: worker %v's tree counts %d processes, want 2, the daemon %d too", worker, n, daemon)
	}
}

// treePids lists the pids of infos and of everything under them.
func treePids(infos []procinfo.Info) []int {
	var out []int
	for _, in := range infos {
		out = append(out, in.PID)
		out = append(out, treePids(in.Children)...)
	}
	return out
}

// waitTreeProcesses polls the tree metrics until worker pid's tree counts
// want processes, or hang has passed; it returns the last count.
func waitTreeProcesses(t *testing.T, h *harness, pid, want int) int {
	t.Helper()
	n := 0
	proctest.Poll(hang, func() bool {
		snap, err := h.a.Snapshot(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		n = h.a.WorkerUsage(snap)[pid].TreeProcesses
		return n == want
	})
	return n
}
