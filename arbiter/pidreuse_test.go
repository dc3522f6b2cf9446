package arbiter

import (
	"slices"
	"syscall"
	"testing"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher"
	"github.com/poold/poold/watcher/spawn"
)

// The kernel may give an exited worker's pid to a new worker before the
// exit reaches the loop (it waits for the cgroup to empty: up to
// graceful_timeout for what a stopped worker left). That late exit ended
// the new worker's records: it ran on untracked, in neither list nor
// stats, and its slot was filled again (r48 reader, reproduced with
// ns_last_pid). Here the late exit of an earlier process of the same pid
// is posted as watchExit would post it.
func TestLateExitOfAReusedPidLeavesTheNewWorker(t *testing.T) {
	h := start(t, &configs.Config{Watchers: []configs.Watcher{testWatcher("web", "sleep", 1)}}, Options{})
	var pid int
	for p := range spawnedReady(t, h, "web", 1) {
		pid = p
	}
	w := onLoop(t, h.a, func() any { return h.a.watchers["web"] }).(*watcher.Watcher)
	earlier := &spawn.Proc{Pid: pid} // not the process watchExit took on
	h.a.post(exitMsg{pid: pid, proc: earlier, owner: w, end: watcher.End{Exit: spawn.Exit{Signal: syscall.SIGTERM}}})

	st := h.do("status", map[string]any{"name": "web"}) // after the exit: one loop
	pids := onLoop(t, h.a, func() any { return w.Pids() }).([]int)
	if !slices.Contains(pids, pid) || st["status"] != "active" {
		t.Errorf("after the late exit of an earlier process of pid %d: web %v with pids %v; want pid %d still its worker", pid, st["status"], pids, pid)
	}
	noSpawnOf(h, "web")
	// The worker itself still ends as it should.
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	h.next("spawn", func(ev events.Event) bool { return ev.Watcher == "web" })
}
