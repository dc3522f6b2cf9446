package arbiter

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher/cgroup"
	"github.com/poold/poold/watcher/proctest"
)

// TestStopWakesASuspendedWorker: a worker suspended by SIGSTOP (a
// debugger, an operator's kill -STOP) that catches SIGTERM got it only
// when it ran again, which it never did: the stop sat out the whole
// graceful_timeout and SIGKILLed it, an hour here. poold now sends SIGCONT
// after the stop signal, as systemd does, so the worker shuts down
// cleanly at once.
func TestStopWakesASuspendedWorker(t *testing.T) {
	w := testWatcher("web", "serve", 1)
	w.Sockets = []string{"web"}
	w.GracefulTimeout = time.Hour
	h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{w}}, Options{})
	pid := h.spawned()
	h.serving("web") // its SIGTERM handler is in place from then on
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	proctest.Eventually(t, "the worker stopped by SIGSTOP", func() bool { return procState(pid) == "T" })
	done := doAsync(h, "stop", map[string]any{"name": "web", "waiting": true})
	ev := h.next("reap", func(e events.Event) bool { return e.Fields["process_pid"] == pid }) // hangs without the fix
	if ev.Fields["reason"] != "exit" || ev.Fields["exit_code"] != 0 {
		t.Errorf("suspended worker ended with %v, want a clean exit on its SIGTERM", ev.Fields)
	}
	if r := <-done; r["status"] != "ok" {
		t.Errorf("stop: %v", r)
	}
}

// TestStopThawsAFrozenWorker: a worker whose cgroup was frozen
// (cgroup.freeze, systemctl freeze, a container pause) showed as plain
// ready, since the kernel shows its tasks asleep, and every stop of it
// sat out the whole graceful_timeout: poold's SIGCONT does not thaw a
// cgroup. The stop now thaws its cgroup, as systemd thaws a unit it stops, so it shuts down cleanly at
// once.
func TestStopThawsAFrozenWorker(t *testing.T) {
	w := testWatcher("web", "serve", 1)
	w.Sockets = []string{"web"}
	w.GracefulTimeout = time.Hour
	h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{w}}, Options{})
	needCgroups(t, h)
	pid := h.spawned()
	h.serving("web") // its SIGTERM handler is in place from then on
	dir := v2DirOf(t, pid)
	freeze := func(v string) error { return os.WriteFile(filepath.Join(dir, "cgroup.freeze"), []byte(v), 0) }
	if err := freeze("1"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = freeze("0") }) // before the harness stops poold, if the test fails
	proctest.Eventually(t, "the worker's cgroup frozen", func() bool { return cgroup.Frozen(dir) })
	done := doAsync(h, "stop", map[string]any{"name": "web", "waiting": true})
	ev := h.next("reap", func(e events.Event) bool { return e.Fields["process_pid"] == pid }) // hangs without the fix
	if ev.Fields["reason"] != "exit" || ev.Fields["exit_code"] != 0 {
		t.Errorf("frozen worker ended with %v, want a clean exit on its SIGTERM", ev.Fields)
	}
	if r := <-done; r["status"] != "ok" {
		t.Errorf("stop: %v", r)
	}
}

// v2DirOf is the directory of pid's cgroup v2, where the host mounts it.
func v2DirOf(t *testing.T, pid int) string {
	t.Helper()
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	dir, _, ok := cgroup.V2Dir(cgroupOf(t, pid)+"\n", string(mi))
	if !ok {
		t.Fatalf("no cgroup v2 directory for pid %d", pid)
	}
	return dir
}
