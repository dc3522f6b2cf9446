package arbiter

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher/proctest"
)

// startHeldMaster runs watcher m, one forkingMaster held in mode as w sets it,
// and returns its harness, dir, master's and worker's pids.
func startHeldMaster(t *testing.T, mode string, set func(*configs.Watcher)) (*harness, string, int, int) {
	t.Helper()
	dir := t.TempDir()
	w := configs.DefaultWatcher("m")
	w.Cmd = proctest.Tool(t, "/usr/bin/python3", "python3")
	w.Args = []string{"-c", forkingMaster, dir, mode, "hold"}
	set(&w)
	h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{})
	needCgroups(t, h)
	master := h.spawned()
	child := readPid(t, dir, "child.pid")
	t.Cleanup(func() { _ = syscall.Kill(child, syscall.SIGKILL) })
	return h, dir, master, child
}

// A gunicorn master killed by kill -9 leaves its worker, which gets
// SIGTERM and, finishing its request, grows past the watcher's
// memory_max: the OOM killer takes it. poold read the cgroup's OOM
// counter only for the master's end and said the worker "ended within
// graceful_timeout", telling nothing of the kill (r63 review M3). It
// now warns as for a running worker's child (childOOM), publishes the
// same unhealthy event, and says so where it says the drain ended.
func TestOOMKillOfWhatAKilledWorkerLeftIsReported(t *testing.T) {
	h, _, master, child := startHeldMaster(t, "grow", func(w *configs.Watcher) {
		w.MemoryMax = 64 << 20
		w.GracefulTimeout = time.Hour
	})
	if err := syscall.Kill(master, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 of the master %d: %v", master, err)
	}
	ev := h.next("unhealthy", func(e events.Event) bool { return e.Watcher == "m" })
	if ev.Fields["oom_kills"] != 1 || ev.Fields["process_pid"] != master || ev.Fields["process_id"] != 1 || ev.Fields["memory_max"] != uint64(64<<20) {
		t.Errorf("unhealthy event %v, want oom_kills 1, process_pid %d, process_id 1, memory_max %d", ev.Fields, master, 64<<20)
	}
	if why := fmt.Sprint(ev.Fields["reason"]); !strings.Contains(why, "the OOM killer killed 1 process(es) of what worker "+strconv.Itoa(master)) {
		t.Errorf("unhealthy reason %q", why)
	}
	proctest.Eventually(t, "the log to say the drain ended", func() bool {
		return strings.Contains(h.log.String(), "what a worker killed by a signal left has ended within graceful_timeout")
	})
	var warn, ended string
	for _, l := range strings.Split(h.log.String(), "\n") {
		switch {
		case strings.Contains(l, "the OOM killer killed a process of what a worker killed by a signal left"):
			warn = l
		case strings.Contains(l, "what a worker killed by a signal left has ended within graceful_timeout"):
			ended = l
		}
	}
	for _, want := range []string{"[WARN]", "watcher=m", "wid=1", "pid=" + strconv.Itoa(master), "cgroup=", "oom_kills=1", "memory_max=67108864"} {
		if !strings.Contains(warn, want) {
			t.Errorf("the OOM WARN lacks %s: %q", want, warn)
		}
	}
	if !strings.Contains(ended, "the OOM killer killing some of it") || !strings.Contains(ended, "oom_kills=1") {
		t.Errorf("the drain's end line %q does not say the OOM killer took part", ended)
	}
	if proctest.Alive(child) {
		t.Errorf("the leftover %d still runs", child)
	}
}
