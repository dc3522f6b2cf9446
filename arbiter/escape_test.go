package arbiter

import (
	"context"
	"strings"
	"syscall"
	"testing"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/proctest"
)

// TestEscapeLooksAtLimitedWorkersInTurn: the look for workers that left
// their cgroup read /proc/PID/cgroup of every worker on every stats tick,
// idle or not: 5.5 % of a core from an idle poold with 10,000 workers
// (issue 18 wants under 1 %), for watchers with no limit that leaving
// would escape. It now looks only at watchers with a cgroup limit, and at
// most escapeBudget workers a tick, in turn.
func TestEscapeLooksAtLimitedWorkersInTurn(t *testing.T) {
	free := testWatcher("web", "sleep", 3)
	capped := testWatcher("capped", "sleep", 5)
	capped.PidsMax = 100
	h := start(t, &configs.Config{Watchers: []configs.Watcher{free, capped}}, Options{})
	needContainment(t, h)
	h.spawns(8)
	if !h.a.cgroupLimits.Load() {
		t.Fatal("a watcher has pids_max, and cgroupLimits is false")
	}
	ctx := context.Background()
	var seen []int
	for _, from := range []int{0, 2, 4} {
		looks, total := h.a.escapeLooks(ctx, from, 2)
		if total != 5 {
			t.Fatalf("escapeLooks from %d: %d workers to look at, want capped's 5 (web has no limit)", from, total)
		}
		for _, l := range looks {
			if l.name != "capped" {
				t.Errorf("escapeLooks from %d looks at %s's pid %d, which has no cgroup limit", from, l.name, l.pid)
			}
			seen = append(seen, l.pid)
		}
	}
	pids := h.do("list", map[string]any{"name": "capped"})["pids"].([]int)
	if len(seen) != 5 || len(uniq(seen)) != 5 || len(pids) != 5 {
		t.Errorf("three turns of 2 looked at %v, want each of capped's %v once", seen, pids)
	}
	h.do("set", map[string]any{"name": "capped", "options": map[string]any{"pids_max": 0}})
	h.do("list", nil) // the loop notes the limits after a command, once it has answered it
	if h.a.cgroupLimits.Load() {
		t.Error("no watcher has a cgroup limit any more, and the stats tick would still wake the loop to look")
	}
}

func uniq(xs []int) map[int]bool {
	m := map[int]bool{}
	for _, x := range xs {
		m[x] = true
	}
	return m
}

// escapeScript moves the worker, running as root, into the root of
// cgroup v2, out of the cgroup poold started it in.
const escapeScript = `root=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
echo $$ > "$root/cgroup.procs" || exit 3
exec sleep 1000`

// TestEscapeWarnedOncePerWorker: a worker that left its cgroup was
// warned of again when workers before it in the look's turn ended
// mid-pass (review: a decr of 20 warned twice of the same pid and
// cgroup): the pass's end forgot every worker told of that it had not
// seen, and those moved up past the look were not seen. Now a worker
// told of is forgotten once it has ended.
func TestEscapeWarnedOncePerWorker(t *testing.T) {
	w := configs.DefaultWatcher("web")
	w.Cmd, w.Args, w.NumProcesses, w.PidsMax = "/bin/sh", []string{"-c", escapeScript}, 3, 100
	w.Respawn = false // wid 1's end moves the others up the turn
	h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{})
	needContainment(t, h)
	pids := h.spawns(3)
	ctx := context.Background()
	left := func() int {
		looks, _ := h.a.escapeLooks(ctx, 0, 100)
		n := 0
		for _, l := range looks {
			if l.g.Left(l.pid) != "" {
				n++
			}
		}
		return n
	}
	proctest.Eventually(t, "the 3 workers out of their cgroups", func() bool { return left() == 3 })
	st := &escapeWatch{budget: 1}
	for range 4 { // a pass over the 3, and the first of the next
		h.a.lookForEscapes(ctx, st)
	}
	first := 0
	for pid, wid := range pids {
		if wid == 1 {
			first = pid
		}
	}
	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	proctest.Eventually(t, "wid 1 gone from the look's turn", func() bool { _, n := h.a.escapeLooks(ctx, 0, 100); return n == 2 })
	for range 5 { // the rest of that pass, then two whole ones
		h.a.lookForEscapes(ctx, st)
	}
	if n := strings.Count(h.log.String(), "a worker left its cgroup"); n != 3 {
		t.Errorf("%d warnings, want 3: one for each worker (log:\n%s)", n, h.log.String())
	}
}
