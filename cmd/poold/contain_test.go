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
	"time"

	"github.com/poold/poold/watcher/proctest"
)

// daemonScript is a worker that double-forks a setsid daemon, which keeps
// the inherited listening socket (fd 3) and writes its pid to PIDFILE,
// then serves nothing itself.
const daemonScript = `#!/bin/sh
setsid sh -c 'sleep 1000 & echo $! >> "$0"; exit 0' PIDFILE &
wait
exec sleep 1000
`

const daemonConfig = `
[arbiter]
ENDPOINTS
log_level = "debug"

[sockets.web]
port = %d

[watchers.d]
cmd = %q
sockets = ["web"]
graceful_timeout = "2s"
`

// writeDaemon writes daemonScript to dir and returns its path and the
// file its daemons' pids go to.
func writeDaemon(t *testing.T, dir string) (script, pidfile string) {
	t.Helper()
	pidfile = filepath.Join(dir, "daemons")
	script = filepath.Join(dir, "daemon.sh")
	if err := os.WriteFile(script, []byte(strings.ReplaceAll(daemonScript, "PIDFILE", pidfile)), 0o755); err != nil {
		t.Fatal(err)
	}
	return script, pidfile
}

// daemons waits until pidfile holds n pids and returns them.
func daemons(t *testing.T, pidfile string, n int) []int {
	t.Helper()
	var pids []int
	proctest.Eventually(t, fmt.Sprintf("%d daemon pids in %s", n, pidfile), func() bool {
		b, _ := os.ReadFile(pidfile)
		pids = pids[:0]
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				pids = append(pids, pid)
			}
		}
		return len(pids) >= n
	})
	return pids
}

// needCgroups fails under CI=true, and skips elsewhere, when poold reports
// that it runs its workers in process groups only.
func needCgroups(t *testing.T, p *proc) {
	t.Helper()
	m := p.waitLog(`containment: (a cgroup per worker|process groups)`, 1)
	if m[0][1] == "process groups" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("poold could not make cgroups; CI runs as root with cgroup2 mounted:\n%s", p.log.String())
		}
		t.Skip("poold could not make cgroups here")
	}
}

func TestStopLeavesNoSetsidDaemon(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	script, pidfile := writeDaemon(t, dir)
	p := startPooldIn(t, dir, fmt.Sprintf(daemonConfig, 0, script), nil)
	needCgroups(t, p)
	daemon := daemons(t, pidfile, 1)[0]
	t.Cleanup(func() { _ = syscall.Kill(daemon, syscall.SIGKILL) })
	c := dialControl(t, p)
	if r := call(t, c, "status", map[string]any{"name": "d"}); !strings.HasPrefix(fmt.Sprint(r["containment"]), "cgroup ") {
		t.Fatalf("status containment %v, want a cgroup", r["containment"])
	}
	start := time.Now()
	if r := call(t, c, "stop", map[string]any{"name": "d", "waiting": true}); r["status"] != "ok" {
		t.Fatalf("stop: %v", r)
	}
	t.Logf("stop of a worker with a setsid daemon took %v (graceful_timeout 2s)", time.Since(start))
	if proctest.Alive(daemon) {
		t.Fatalf("setsid daemon %d outlived the stop", daemon)
	}
	// poold, its subreaper, reaps it: not even a zombie stays.
	proctest.Eventually(t, "daemon reaped", func() bool { return !exists(daemon) })
	p.waitLog(`worker stopped: .*exit="killed by signal TERM"`, 1)
}

func TestLeftoverOfKilledPooldGoesBeforeBind(t *testing.T) {
	dir := t.TempDir()
	script, pidfile := writeDaemon(t, dir)
	cfg := fmt.Sprintf(daemonConfig, proctest.FreePort(t), script)
	first := startPooldIn(t, dir, cfg, nil)
	needCgroups(t, first)
	daemon := daemons(t, pidfile, 1)[0]
	t.Cleanup(func() { _ = syscall.Kill(daemon, syscall.SIGKILL) })
	first.signal(syscall.SIGKILL)
	first.wait()
	if !proctest.Alive(daemon) {
		t.Fatalf("daemon %d died with poold: this test needs one that outlives it", daemon)
	}
	// The daemon still holds the port (no reuseport): the new poold binds
	// it only if the leftover is gone first.
	second := startPooldIn(t, dir, cfg, nil)
	second.waitLog(`socket bound`, 1)
	log := second.log.String()
	swept := strings.Index(log, "killed and removed what a previous poold")
	if swept < 0 || swept > strings.Index(log, "socket bound") {
		t.Fatalf("the leftover was not removed before the bind:\n%s", log)
	}
	if proctest.Alive(daemon) {
		t.Fatalf("leftover daemon %d still runs", daemon)
	}
	next := daemons(t, pidfile, 2)[1]
	t.Cleanup(func() { _ = syscall.Kill(next, syscall.SIGKILL) })
	second.signal(syscall.SIGTERM)
	if code := second.wait(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}

const oomConfig = `
[arbiter]
ENDPOINTS

[sockets.web]
port = 0

[watchers.hog]
cmd = @WORKER@
sockets = ["web"]
env = ["POOLD_TEST_WORKER=leak"]
memory_max = "24M"
respawn = false
`

func TestOOMKillIsTheReason(t *testing.T) {
	p := startPoold(t, oomConfig)
	needCgroups(t, p)
	p.waitLog(`worker failed.*reason="killed by the OOM killer \(memory_max 25165824 bytes\)"`, 1)
	lastExitIsOOM(t, p)
}

// lastExitIsOOM checks that status shows the OOM kill of hog's worker.
func lastExitIsOOM(t *testing.T, p *proc) {
	t.Helper()
	c := dialControl(t, p)
	r := call(t, c, "status", map[string]any{"name": "hog"})
	slots, _ := r["slots"].([]any)
	if len(slots) != 1 || !strings.Contains(fmt.Sprint(slots[0].(map[string]any)["last_exit"]), "OOM killer") {
		t.Fatalf("status slots %v, want the OOM kill as last_exit", slots)
	}
}

// oomOnceConfig is oomConfig with respawn on and a worker that leaks only
// the first time (it makes the file once).
func oomOnceConfig(once string) string {
	c := strings.Replace(oomConfig, "respawn = false\n", "", 1)
	return strings.Replace(c, `"POOLD_TEST_WORKER=leak"`, `"POOLD_TEST_WORKER=leak", "LEAK_ONCE=`+once+`"`, 1)
}

// A worker's replacement starts in the cgroup its slot's last worker
// emptied (parked, not removed and made again), and its exit reports its
// own end: the OOM kill of the worker before it is not counted again.
func TestReplacementReusesItsSlotCgroup(t *testing.T) {
	once := filepath.Join(t.TempDir(), "leaked")
	p := startPoold(t, oomOnceConfig(once))
	needCgroups(t, p)
	p.waitLog(`worker ended.*reason="killed by the OOM killer`, 1)
	c := dialControl(t, p)
	var second int
	proctest.Eventually(t, "the OOM-killed worker's replacement", func() bool {
		r := call(t, c, "list", map[string]any{"name": "hog"})
		raw, _ := r["pids"].([]any)
		if len(raw) == 1 {
			second = int(raw[0].(float64))
		}
		return second != 0
	})
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", second))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(strings.TrimSpace(string(b)), "/w-hog.1.1") {
		t.Fatalf("the replacement (pid %d) is in %q; want the first worker's cgroup w-hog.1.1", second, b)
	}
	if err := syscall.Kill(second, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	m := p.waitLog(`worker ended[^\n]*reason="([^"]*)"`, 2)
	if got := m[1][1]; got != "killed by signal KILL" {
		t.Fatalf("the replacement's end: %q, want killed by signal KILL", got)
	}
}

// envlessScript is daemonScript with a daemon whose environment is
// cleared (env -i): nothing in it names the worker it came from.
const envlessScript = `#!/bin/sh
setsid env -i sh -c 'sleep 1000 & echo $! >> "$0"; exit 0' PIDFILE &
wait
exec sleep 1000
`

// With process groups only (no root, no delegated cgroup), what a worker
// moved to a session of its own is no stop's to reach; poold, its
// subreaper, held it, and as poold exited it went on under init, unseen
// and holding the port. poold now stops what it holds as it exits, and
// names it in its log. (One whose environment names its worker goes with
// that worker: TestStraysWaitForTheEndOfTheirWorker. This one's does
// not, so it is also named in a warning while poold runs.)
func TestExitStopsWhatLeftTheGroupsWithoutCgroups(t *testing.T) {
	t.Parallel()
	dir := openTempDir(t)
	script, pidfile := writeScript(t, dir, "envless.sh", envlessScript)
	p := startBinaryIn(t, dir, fmt.Sprintf(daemonConfig, 0, script), withoutCgroups)
	p.waitLogBin(t, `containment: (process groups) only`)
	daemon := daemons(t, pidfile, 1)[0]
	t.Cleanup(func() { _ = syscall.Kill(daemon, syscall.SIGKILL) })
	proctest.Eventually(t, "the daemon, a sleep, is poold's child (its shell ended)", func() bool {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", daemon))
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		return err == nil && strings.Contains(s, "(sleep)") && len(f) > 1 && f[1] == strconv.Itoa(p.cmd.Process.Pid)
	})
	p.waitLogBin(t, `(belongs to no running worker)[^\n]*pid=`+strconv.Itoa(daemon)+` process="`+strconv.Itoa(daemon)+` \(sleep 1000\)" origin="unknown`)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0", code)
	}
	if proctest.Alive(daemon) {
		t.Fatalf("setsid daemon %d outlived poold", daemon)
	}
	if !regexp.MustCompile(`stopping poold.s child processes that are no worker.s.*processes="[^"]*\b` + strconv.Itoa(daemon) + ` \(sleep 1000\)`).MatchString(p.log.String()) {
		t.Errorf("the log does not name daemon %d among what poold stopped as it exited:\n%s", daemon, p.log.String())
	}
	if n := strings.Count(p.log.String(), "belongs to no running worker"); n != 1 {
		t.Errorf("%d warnings of a process that belongs to no running worker, want 1 (each is named once)", n)
	}
}

// withoutCgroups runs poold as nobody when the test runs as root: a user
// without a cgroup of its own, so workers have process groups only.
func withoutCgroups(a *syscall.SysProcAttr) {
	if os.Geteuid() == 0 {
		asNobody(a)
	}
}

// escapeScript moves itself, running as root, into the root of cgroup v2
// (found in /proc/mounts: /sys/fs/cgroup, or /sys/fs/cgroup/unified on a
// hybrid host), out of the cgroup poold started it in.
const escapeScript = `#!/bin/sh
root=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
echo $$ > "$root/cgroup.procs" || exit 3
exec sleep 1000
`

// A worker running as root can leave its cgroup (r58b): poold cannot
// stop that, but says so, naming the watcher, the pid and where it went,
// on its stats tick, for a watcher with a cgroup limit (pids_max here),
// which the worker no longer has.
func TestWorkerThatLeftItsCgroupIsWarnedOf(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "escape.sh")
	if err := os.WriteFile(script, []byte(escapeScript), 0o755); err != nil {
		t.Fatal(err)
	}
	p := startPooldIn(t, dir, fmt.Sprintf("[arbiter]\nENDPOINTS\n\n[watchers.esc]\ncmd = %q\npids_max = 100\n", script), nil)
	needCgroups(t, p)
	pid := waitPids(t, dialControl(t, p), "esc", 1)[0]
	p.waitLog(fmt.Sprintf(`a worker left its cgroup: .*watcher=esc wid=1 pid=%d cgroup=\S+/w-esc\.1\.\d+ now_in="?0::/"?`, pid), 1)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(); code != 0 {
		t.Fatalf("poold exited %d after SIGTERM, want 0", code)
	}
}
