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

// daemonizeScript is a worker that daemonizes: it starts a setsid daemon
// (which writes its pid to PIDFILE) and exits 0, as nginx without
// 'daemon off;' does.
const daemonizeScript = `#!/bin/sh
setsid sh -c 'sleep 1000 & echo $! >> "$0"; exit 0' PIDFILE &
wait
exit 0
`

// writeScript writes body to dir/name with PIDFILE replaced by
// dir/name.pids, and returns both paths.
func writeScript(t *testing.T, dir, name, body string) (script, pidfile string) {
	t.Helper()
	script = filepath.Join(dir, name)
	pidfile = script + ".pids"
	if err := os.WriteFile(script, []byte(strings.ReplaceAll(body, "PIDFILE", pidfile)), 0o755); err != nil {
		t.Fatal(err)
	}
	return script, pidfile
}

// killAtEnd kills what the test's workers started, should poold not.
func killAtEnd(t *testing.T, pidfile string) {
	t.Cleanup(func() {
		b, _ := os.ReadFile(pidfile)
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
}

const leftReason = `exited with status 0, leaving 1 process(es) running, which poold killed: a worker must stay in the foreground`

// With process groups only (Docker's default: the cgroup filesystem
// read-only), a worker that daemonizes left its daemon at every restart,
// poold's child outside every process group: ten after 17 s, each exit
// said only "exited with status 0", and poold stopped them only as it
// exited. Its daemon is now stopped as the worker ends, and the exit
// says so as with a cgroup per worker.
func TestDaemonizingWorkerLeavesNoDaemonWithoutCgroups(t *testing.T) {
	dir := openTempDir(t)
	script, pidfile := writeScript(t, dir, "daemonize.sh", daemonizeScript)
	killAtEnd(t, pidfile)
	p := startBinaryIn(t, dir, fmt.Sprintf("[arbiter]\nENDPOINTS\n\n[watchers.d]\ncmd = %q\n", script), withoutCgroups)
	p.waitLogBin(t, `containment: (process groups) only`)
	pids := daemons(t, pidfile, 3)
	for _, d := range pids[:2] {
		proctest.Eventually(t, fmt.Sprintf("daemon %d of an earlier worker stopped", d), func() bool { return !proctest.Alive(d) })
	}
	if n := strings.Count(p.log.String(), leftReason); n < 2 {
		t.Errorf("%d exit reasons say %q, want one per restart (2 or more):\n%s", n, leftReason, p.log.String())
	}
}

// hookDaemonConfig: watcher helper runs daemonScript (a setsid helper it
// keeps while it runs) and an after_start hook that starts a daemon;
// watcher d, of the same wid 1, daemonizes at every restart.
const strayOwnersConfig = `[arbiter]
ENDPOINTS

[watchers.helper]
cmd = %q
graceful_timeout = "5s"
hooks = { after_start = %q }

[watchers.d]
cmd = %q
`

// A stray is stopped when the worker whose environment it has ends, and
// only then: a helper a running worker double-forked (which a cgroup
// would keep while the worker lives) outlives the ends of another
// watcher's worker of the same wid, and stops with its own worker; a
// daemon a hook started (whose environment names the worker too) is no
// worker's, and is left to poold's exit.
func TestStraysWaitForTheEndOfTheirWorker(t *testing.T) {
	dir := openTempDir(t)
	helper, helperPids := writeScript(t, dir, "helper.sh", daemonScript)
	hook, hookPids := writeScript(t, dir, "hook.sh", hookDaemonScript)
	daemonize, dPids := writeScript(t, dir, "daemonize.sh", daemonizeScript)
	for _, f := range []string{helperPids, hookPids, dPids} {
		killAtEnd(t, f)
	}
	p := startBinaryIn(t, dir, fmt.Sprintf(strayOwnersConfig, helper, hook, daemonize), withoutCgroups)
	p.waitLogBin(t, `containment: (process groups) only`)
	pooldPid := strconv.Itoa(p.cmd.Process.Pid)
	helperDaemon, hookDaemon := daemons(t, helperPids, 1)[0], daemons(t, hookPids, 1)[0]
	for _, d := range []int{helperDaemon, hookDaemon} {
		proctest.Eventually(t, fmt.Sprintf("%d is poold's child (its shell ended)", d), func() bool { return parentOf(d) == pooldPid })
	}
	// Ends of d's worker (wid 1 too) after that: each looked for strays.
	seen := strings.Count(p.log.String(), leftReason)
	proctest.Eventually(t, "two more ends of d's daemonizing worker", func() bool {
		return strings.Count(p.log.String(), leftReason) >= seen+2
	})
	for _, d := range []int{helperDaemon, hookDaemon} {
		if !proctest.Alive(d) {
			t.Fatalf("process %d, no stray of d's workers, was stopped at their end:\n%s", d, p.log.String())
		}
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0", code)
	}
	for _, d := range []int{helperDaemon, hookDaemon} {
		if proctest.Alive(d) {
			t.Fatalf("process %d outlived poold", d)
		}
	}
	log := p.log.String()
	if !regexp.MustCompile(`stopping what a worker left outside its process group[^\n]*watcher=helper[^\n]*processes="` + strconv.Itoa(helperDaemon) + ` \(sleep 1000\)"`).MatchString(log) {
		t.Errorf("the helper's stop does not name its helper %d as what it left:\n%s", helperDaemon, log)
	}
	exitNames := regexp.MustCompile(`stopping poold.s child processes that are no worker.s[^\n]*processes="([^"]*)"`).FindStringSubmatch(log)
	if exitNames == nil || !strings.Contains(exitNames[1], strconv.Itoa(hookDaemon)+" (sleep 1000)") || strings.Contains(exitNames[1], strconv.Itoa(helperDaemon)+" ") {
		t.Errorf("at exit poold should stop the hook's daemon %d alone (the helper %d went with its worker):\n%s", hookDaemon, helperDaemon, log)
	}
}

// parentOf is pid's parent pid as /proc says, "" if none.
func parentOf(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if err != nil || len(f) < 2 {
		return ""
	}
	return f[1]
}
