package arbiter

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/poold/poold/configs"
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
