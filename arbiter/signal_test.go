package arbiter

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher/proctest"
)

// TestSignalChildrenWinsOverRecursive: signal with children and
// recursive also stopped the worker itself (recursive won and signalled
// the group); circusd lets children win and signals the worker's direct
// children only.
func TestSignalChildrenWinsOverRecursive(t *testing.T) {
	w := testWatcher("family", "family", 1)
	w.Sockets = []string{"s"}
	h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("s")}, Watchers: []configs.Watcher{w}}, Options{})
	worker := h.spawned()
	var child int
	proctest.Eventually(t, "family worker reports its child", func() bool {
		body, err := get(h.socketAddr("s"), "/child")
		child, _ = strconv.Atoi(strings.TrimSpace(body))
		return err == nil && child > 0
	})
	t.Cleanup(func() { syscall.Kill(-worker, syscall.SIGCONT) })
	h.do("signal", map[string]any{"name": "family", "pid": worker, "signum": "STOP", "children": true, "recursive": true})
	proctest.Eventually(t, "the child stopped", func() bool { return procState(child) == "T" })
	if st := procState(worker); st == "T" {
		t.Errorf("the worker itself was stopped (state %s); only its children should be", st)
	}
}

// procState is pid's state letter from /proc/PID/stat ("" if gone).
func procState(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

// TestSignalRecursiveReachesWhatLeftTheGroup: signal with recursive went
// to the worker's process group only, so a child that called setsid (a
// helper daemon) never got it; circusd's recursive signal goes to every
// descendant of the worker.
func TestSignalRecursiveReachesWhatLeftTheGroup(t *testing.T) {
	// With a cgroup per worker, what is in it; without, the worker's
	// descendants in /proc.
	for _, opts := range []Options{{}, {NoCgroups: true}} {
		t.Run(fmt.Sprintf("NoCgroups=%v", opts.NoCgroups), func(t *testing.T) { signalRecursiveBeyondGroup(t, opts) })
	}
}

func signalRecursiveBeyondGroup(t *testing.T, opts Options) {
	file := filepath.Join(t.TempDir(), "daemon.pid")
	w := configs.DefaultWatcher("tree")
	w.Cmd = "/bin/sh"
	// A background job of a non-interactive sh is not a group leader,
	// so setsid(1) calls setsid(2) without forking: $! is the daemon.
	w.Args = []string{"-c", `setsid sleep 3600 & echo $! > "$0.tmp" && mv "$0.tmp" "$0"; exec sleep 3600`, file}
	w.GracefulTimeout = 5 * time.Second
	h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, opts)
	worker := h.spawned()
	var daemon int
	proctest.Eventually(t, "the worker writes its daemon's pid", func() bool {
		b, err := os.ReadFile(file)
		daemon, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil && daemon > 0
	})
	t.Cleanup(func() {
		syscall.Kill(-worker, syscall.SIGCONT)
		syscall.Kill(daemon, syscall.SIGKILL) // no cgroup: it would outlive the stop
	})
	proctest.Eventually(t, "the daemon leaves the worker's process group", func() bool {
		g, err := syscall.Getpgid(daemon)
		return err == nil && g == daemon
	})
	h.do("signal", map[string]any{"name": "tree", "signum": "STOP", "recursive": true})
	proctest.Eventually(t, "the worker stopped", func() bool { return procState(worker) == "T" })
	proctest.Eventually(t, "the daemon that left the worker's group stopped", func() bool { return procState(daemon) == "T" })
}

// TestRealtimeSignalNumbers: a real-time signal given by number
// (circusctl signal web 40, set web stop_signal 40) was refused as
// "unknown signal number 40", where circusd sends it as kill(1) does.
func TestRealtimeSignalNumbers(t *testing.T) {
	w := configs.DefaultWatcher("rt")
	w.Cmd, w.Args, w.NumProcesses = "sleep", []string{"3600"}, 2
	h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{NoCgroups: true})
	pids := h.spawns(2)
	var first, second int
	for pid := range pids {
		if first == 0 {
			first = pid
		} else {
			second = pid
		}
	}
	exitSignal := func(pid int) any { // exit_code is minus the signal
		ev := h.next("exit", func(ev events.Event) bool { return ev.Fields["process_pid"] == pid })
		return ev.Fields["exit_code"]
	}
	h.do("signal", map[string]any{"name": "rt", "pid": float64(first), "signum": float64(40)})
	if code := exitSignal(first); code != -40 {
		t.Errorf("worker %d signalled with 40 ended with exit_code %v", first, code)
	}
	h.do("set", map[string]any{"name": "rt", "options": map[string]any{"stop_signal": float64(41)}, "waiting": true})
	got, err := json.Marshal(h.do("get", map[string]any{"name": "rt", "keys": []any{"stop_signal"}})["options"])
	if err != nil || string(got) != `{"stop_signal":41}` {
		t.Errorf("get stop_signal after set 41: %s (%v)", got, err)
	}
	h.do("stop", map[string]any{"name": "rt", "waiting": true})
	if code := exitSignal(second); code != -41 {
		t.Errorf("worker %d stopped with stop_signal 41 ended with exit_code %v", second, code)
	}
}
