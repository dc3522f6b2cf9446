package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/poold/poold/watcher/cgroup"
	"github.com/poold/poold/watcher/proctest"
)

// outerConfig is oomConfig without memory_max: only the limit of the
// cgroup poold runs in (a container's) stops its leaking worker.
var outerConfig = strings.Replace(oomConfig, "memory_max = \"24M\"\n", "", 1)

// A container's memory limit that OOM-kills a worker without a
// memory_max of its own is the reason of its end, not a bare SIGKILL
// that reads like an operator's kill -9.
func TestContainerOOMKillIsTheReason(t *testing.T) {
	const limit = 192 << 20
	dir := memoryCgroup(t, limit)
	enter := []string{"/bin/sh", "-c", `echo $$ > "$0/cgroup.procs" && exec "$@"`, dir}
	p := startPooldUnder(t, enter, t.TempDir(), outerConfig, nil)
	want := fmt.Sprintf(`reason="killed by the OOM killer \(it has no memory_max; out of memory: poold's cgroup %s \(memory limit %d bytes\)`,
		regexp.QuoteMeta(dir), limit)
	p.waitLog(want, 1)
	lastExitIsOOM(t, p)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(); code != 0 {
		t.Fatalf("poold exited %d after SIGTERM, want 0", code)
	}
}

// A container's memory limit far below a watcher's memory_max: poold
// warns at start that the workers meet the container's limit first, and
// the OOM kill names that limit, not the memory_max the worker never
// reached (r58b: "memory_max 1073741824 bytes" for a worker killed at
// 381 MB by its container's 400 MiB). On a hybrid host the worker's own
// count is cgroup v1's memory.failcnt, on a v2-only one memory.events.
func TestContainerOOMKillUnderMemoryMaxNamesTheContainer(t *testing.T) {
	const limit = 192 << 20
	dir := memoryCgroup(t, limit)
	enter := []string{"/bin/sh", "-c", `echo $$ > "$0/cgroup.procs" && exec "$@"`, dir}
	cfg := strings.Replace(oomConfig, `memory_max = "24M"`, `memory_max = "1G"`, 1)
	p := startPooldUnder(t, enter, t.TempDir(), cfg, nil)
	needCgroups(t, p)
	p.waitLog(`memory_max above the memory limit of poold's own cgroup.*watchers.hog.memory_max: 1073741824 bytes is above `+
		`the memory limit of poold's cgroup `+regexp.QuoteMeta(dir), 1)
	want := fmt.Sprintf(`reason="killed by the OOM killer, not at its memory_max \(1073741824 bytes, not reached\): `+
		`out of memory: poold's cgroup %s \(memory limit %d bytes\)`, regexp.QuoteMeta(dir), limit)
	p.waitLog(want, 1)
	lastExitIsOOM(t, p)
	// A stop that removes poold's tree, whose v1 part is below dir.
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(); code != 0 {
		t.Fatalf("poold exited %d after SIGTERM, want 0", code)
	}
	t.Logf("the worker's own limit was read from %s", map[bool]string{true: "cgroup v1 memory.failcnt", false: "cgroup v2 memory.events"}[strings.HasSuffix(memoryLimitFile(), "limit_in_bytes")])
}

// memoryLimitFile is the limit file memoryCgroup writes.
func memoryLimitFile() string {
	_, f := memoryParent()
	return f
}

// memoryCgroup makes a memory cgroup with a limit of max bytes, as a
// container runtime would, and removes it at the end of the test: in
// this process's own cgroup v1 memory hierarchy (hybrid hosts), else
// below the cgroup v2 root. It fails under CI=true, and skips elsewhere,
// where it cannot.
func memoryCgroup(t *testing.T, max int) string {
	t.Helper()
	parent, limitFile := memoryParent()
	if parent == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("no memory cgroup can be made here; CI runs as root with cgroups mounted")
		}
		t.Skip("no memory cgroup can be made here")
	}
	dir := filepath.Join(parent, fmt.Sprintf("poold-test-%s-%d", t.Name(), os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		proctest.Eventually(t, "the test's memory cgroup removed", func() bool {
			err := syscall.Rmdir(dir)
			return err == nil || os.IsNotExist(err)
		})
	})
	if err := os.WriteFile(filepath.Join(dir, limitFile), []byte(fmt.Sprint(max)), 0); err != nil {
		t.Fatal(err)
	}
	return dir
}

// memoryParent finds where a memory cgroup can be made, and the name of
// its limit file; "" for nowhere.
func memoryParent() (dir, limitFile string) {
	cg, _ := os.ReadFile("/proc/self/cgroup")
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	mounts := cgroup.Mounts(string(mi))
	for _, line := range strings.Split(string(cg), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 || !strings.Contains(","+parts[1]+",", ",memory,") {
			continue
		}
		for _, m := range mounts {
			if m.FSType == "cgroup" && strings.Contains(","+m.Super+",", ",memory,") {
				if d, _, ok := cgroup.Under(m.Point, m.Root, parts[2]); ok && writable(d) {
					return d, "memory.limit_in_bytes"
				}
			}
		}
	}
	for _, m := range mounts {
		if m.FSType == "cgroup2" && m.Root == "/" {
			b, _ := os.ReadFile(filepath.Join(m.Point, "cgroup.subtree_control"))
			if strings.Contains(" "+strings.TrimSpace(string(b))+" ", " memory ") && writable(m.Point) {
				return m.Point, "memory.max"
			}
		}
	}
	return "", ""
}

func writable(dir string) bool { return syscall.Access(dir, 2) == nil }

const guardConfig = `
[arbiter]
ENDPOINTS

[watchers.plain]
cmd = "sleep 1000"
numprocesses = 2

[watchers.own]
cmd = "sleep 1000"
oom_score_adj = 100
`

// Under a memory limit of the cgroup poold runs in (a container's),
// workers get a higher oom_score_adj than poold's: among small workers
// poold is the largest process, which the OOM killer took, and every
// worker (the whole container) with it. A watcher's own oom_score_adj is
// left as it is.
func TestWorkersGoBeforePooldUnderAMemoryLimit(t *testing.T) {
	dir := memoryCgroup(t, 512<<20)
	enter := []string{"/bin/sh", "-c", `echo $$ > "$0/cgroup.procs" && exec "$@"`, dir}
	p := startPooldUnder(t, enter, t.TempDir(), guardConfig, nil)
	own := oomScoreAdj(t, p.cmd.Process.Pid)
	c := dialControl(t, p)
	for _, pid := range waitPids(t, c, "plain", 2) {
		if got, want := oomScoreAdj(t, pid), min(own+500, 1000); got != want {
			t.Errorf("plain worker %d: oom_score_adj %d, want %d (poold's %d + 500)", pid, got, want, own)
		}
	}
	// The exec shim sets it, once running.
	pid := waitPids(t, c, "own", 1)[0]
	proctest.Eventually(t, "oom_score_adj 100 of the worker of a watcher with oom_score_adj = 100", func() bool {
		return oomScoreAdj(t, pid) == 100
	})
	if got := oomScoreAdj(t, p.cmd.Process.Pid); got != own {
		t.Errorf("poold's own oom_score_adj went from %d to %d", own, got)
	}
	p.waitLog(`workers start with an oom_score_adj 500 above poold's, so the OOM killer takes a worker before poold`, 1)
}

// A container's memory limit that OOM-kills a worker's child (a
// gunicorn worker) of a watcher without memory_max: the master runs on,
// and poold dropped the kill its cgroup counted without a word (r62
// M1). It now warns, naming the watcher when only one could be it, and
// publishes an unhealthy event with oom_kills.
func TestContainerOOMKillOfAWorkersChildIsReported(t *testing.T) {
	dir := memoryCgroup(t, 192<<20)
	enter := []string{"/bin/sh", "-c", `echo $$ > "$0/cgroup.procs" && exec "$@"`, dir}
	work := t.TempDir()
	script, childFile := filepath.Join(work, "master.sh"), filepath.Join(work, "child")
	if err := os.WriteFile(script, []byte(oomMasterScript), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(fmt.Sprintf(oomChildConfig, script, os.Args[0], childFile), "memory_max = \"24M\"\n", "", 1)
	p := startPooldUnder(t, enter, work, cfg, nil)
	line := p.waitLog(`\[WARN\].*the OOM killer of poold's cgroup killed a process that was no worker.*`, 1)[0][0]
	for _, want := range []string{"watcher=gu", "oom_kills=1", `cgroup="` + dir + " (memory limit 201326592 bytes)\""} {
		if !strings.Contains(line, want) {
			t.Errorf("the WARN lacks %s: %s", want, line)
		}
	}
	c := dialControl(t, p)
	r := call(t, c, "events_since", map[string]any{"seq": 0, "topics": []string{"watcher.gu.unhealthy"}})
	evs, _ := r["events"].([]any)
	if len(evs) != 1 || evs[0].(map[string]any)["event"].(map[string]any)["oom_kills"] != 1.0 {
		t.Errorf("unhealthy events of gu: %v, want one with oom_kills 1", evs)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(); code != 0 {
		t.Fatalf("poold exited %d after SIGTERM, want 0", code)
	}
}
