package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/poold/poold/watcher/proctest"
)

// oomMasterScript is a worker that plays a gunicorn master: it starts a
// child (its first argument: the test binary in the mode its environment
// names), writes the child's pid to the file its second names, waits for it, and lives on when it ends.
const oomMasterScript = `#!/bin/sh
"$1" &
echo $! > "$2"
wait
exec sleep 1000
`

const oomChildConfig = `
[arbiter]
ENDPOINTS
stats_interval = "200ms"

[web]
enabled = false
metrics_address = "127.0.0.1:0"

[watchers.gu]
cmd = %q
args = [%q, %q]
env = ["POOLD_TEST_WORKER=hoard"]
memory_max = "24M"
`

// TestOOMKillOfAWorkersChildIsReported: the OOM killer takes a child of
// a worker (gunicorn's worker under its master) under memory_max, and
// the worker runs on. poold read the cgroup's OOM counter only when the
// worker itself ended, so nothing told of it (r57b-oncall M2); it now
// logs a WARN naming the watcher, wid, worker and limit, publishes an
// unhealthy event with oom_kills, and counts it in
// poold_worker_oom_kills_total, with no restart.
func TestOOMKillOfAWorkersChildIsReported(t *testing.T) {
	dir := t.TempDir()
	script, childFile := filepath.Join(dir, "master.sh"), filepath.Join(dir, "child")
	if err := os.WriteFile(script, []byte(oomMasterScript), 0o755); err != nil {
		t.Fatal(err)
	}
	p := startPooldIn(t, dir, fmt.Sprintf(oomChildConfig, script, os.Args[0], childFile), nil)
	needCgroups(t, p)
	c := dialControl(t, p)
	var master int
	proctest.Eventually(t, "gu's worker", func() bool {
		raw, _ := call(t, c, "list", map[string]any{"name": "gu"})["pids"].([]any)
		if len(raw) == 1 {
			master = int(raw[0].(float64))
		}
		return master != 0
	})
	var child int
	proctest.Eventually(t, "the worker's child pid in "+childFile, func() bool {
		b, _ := os.ReadFile(childFile)
		child, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		return child != 0
	})

	line := p.waitLog(`\[WARN\].*the OOM killer killed a process of a worker .*`, 1)[0][0]
	for _, want := range []string{"watcher=gu", "wid=1", "pid=" + strconv.Itoa(master), "oom_kills=1", "memory_max=25165824"} {
		if !strings.Contains(line, want) {
			t.Errorf("the WARN lacks %s: %s", want, line)
		}
	}
	if !exists(master) {
		t.Fatalf("the worker %d ended; the test wants it to run on", master)
	}

	r := call(t, c, "events_since", map[string]any{"seq": 0, "topics": []string{"watcher.gu.unhealthy"}})
	evs, _ := r["events"].([]any)
	if len(evs) != 1 {
		t.Fatalf("unhealthy events of gu: %v, want one for the OOM kill", evs)
	}
	ev := evs[0].(map[string]any)["event"].(map[string]any)
	if ev["oom_kills"] != 1.0 || ev["process_pid"] != float64(master) || ev["process_id"] != 1.0 || ev["memory_max"] != 25165824.0 {
		t.Errorf("unhealthy event %v, want oom_kills 1, process_pid %d, process_id 1, memory_max 25165824", ev, master)
	}

	base := "http://" + p.waitLog(`metrics: url=http://(\S+)/metrics`, 1)[0][1]
	body, err := get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`poold_worker_oom_kills_total{pool="gu"} 1`, `poold_worker_restarts_total{pool="gu",reason="oom"} 0`} {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(want) + `$`).MatchString(body) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if raw, _ := call(t, c, "list", map[string]any{"name": "gu"})["pids"].([]any); len(raw) != 1 || int(raw[0].(float64)) != master {
		t.Errorf("gu's workers %v, want %d alone: a child's OOM kill replaces no worker", raw, master)
	}
}

// TestKillOfAWorkerAfterItsChildsOOMKillIsNoOOMKill: once poold has
// reported the OOM kill of a worker's child, a kill -9 of the worker
// itself is that, not an OOM kill. poold counted every kill of the
// worker's cgroup at its end, the child's included, and called the
// end "killed by the OOM killer", reason oom (r62 H1).
func TestKillOfAWorkerAfterItsChildsOOMKillIsNoOOMKill(t *testing.T) {
	dir := t.TempDir()
	script, childFile := filepath.Join(dir, "master.sh"), filepath.Join(dir, "child")
	if err := os.WriteFile(script, []byte(oomMasterScript), 0o755); err != nil {
		t.Fatal(err)
	}
	p := startPooldIn(t, dir, fmt.Sprintf(oomChildConfig, script, os.Args[0], childFile), nil)
	needCgroups(t, p)
	c := dialControl(t, p)
	line := p.waitLog(`\[WARN\].*the OOM killer killed a process of a worker .* pid=(\d+)`, 1)[0]
	master, _ := strconv.Atoi(line[1])
	if err := syscall.Kill(master, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 of the worker %d: %v", master, err)
	}
	const want = "killed by signal KILL (the OOM killer killed 1 child process(es) of its cgroup earlier, reported then)"
	// The master may have forked another child by the kill: what it
	// leaves is then stopped with grace, said after (leftdrain).
	isWant := func(got any) bool {
		s, _ := got.(string)
		return s == want || strings.HasPrefix(s, want+", leaving ")
	}
	m := p.waitLog(`worker ended[^\n]*pid=`+strconv.Itoa(master)+`[^\n]*reason="([^"]*)"`, 1)
	if got := m[0][1]; !isWant(got) {
		t.Errorf("the worker's end: %q, want %q", got, want)
	}
	r := call(t, c, "events_since", map[string]any{"seq": 0, "topics": []string{"watcher.gu.exit"}})
	evs, _ := r["events"].([]any)
	if len(evs) != 1 {
		t.Fatalf("exit events of gu: %v, want one", evs)
	}
	if ev := evs[0].(map[string]any)["event"].(map[string]any); ev["reason"] != "signal" || !isWant(ev["exit_reason"]) {
		t.Errorf("exit event %v, want reason signal, exit_reason %q", ev, want)
	}
	base := "http://" + p.waitLog(`metrics: url=http://(\S+)/metrics`, 1)[0][1]
	body, err := get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if want := `poold_worker_restarts_total{pool="gu",reason="oom"} 0`; !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(want) + `$`).MatchString(body) {
		t.Errorf("/metrics lacks %s", want)
	}
}
