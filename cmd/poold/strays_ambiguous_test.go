package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"

	"github.com/poold/poold/watcher/proctest"
)

// oldWorkerScript waits for the file GO, then double-forks a setsid helper
// (its pid to PIDFILE) and runs on.
const oldWorkerScript = `#!/bin/sh
while [ ! -e GO ]; do sleep 0.05; done
setsid sh -c 'sleep 1000 & echo $! >> "$0"; exit 0' PIDFILE &
wait
exec sleep 1000
`

// After `rm --nostop w` and `add w`, the old worker runs on, unmanaged,
// beside the new one, both w wid 1. A helper the old one forked after the
// new one started was taken for the new one's and killed at its restart,
// its own worker still running. It is now left alone (and named once as
// ambiguous, should the safety-net tick see it while both run:
// TestStrayOwnerIsTheWorkerBeforeIt).
func TestStrayOfTwoRunningWorkersIsLeftAlone(t *testing.T) {
	dir := openTempDir(t)
	goFile := filepath.Join(dir, "go")
	old, oldPids := writeScript(t, dir, "old.sh", regexp.MustCompile(`\bGO\b`).ReplaceAllString(oldWorkerScript, goFile))
	killAtEnd(t, oldPids)
	p := startBinaryIn(t, dir, fmt.Sprintf("[arbiter]\nENDPOINTS\n\n[watchers.w]\ncmd = %q\ngraceful_timeout = \"5s\"\n", old), withoutCgroups)
	p.waitLogBin(t, `containment: (process groups) only`)
	ctl := &upProc{t: t, dir: dir}
	proctest.Eventually(t, "w's first worker", func() bool { _, err := ctl.try("status", nil); return err == nil && len(ctl.pids("w")) == 1 })
	oldWorker := ctl.pids("w")[0]
	t.Cleanup(func() { _ = syscall.Kill(oldWorker, syscall.SIGKILL) })
	for _, c := range []struct {
		cmd   string
		props map[string]any
	}{
		{"rm", map[string]any{"name": "w", "nostop": true}},
		{"add", map[string]any{"name": "w", "cmd": "sleep 1000", "start": true}},
	} {
		if r := ctl.do(c.cmd, c.props); r["status"] != "ok" {
			t.Fatalf("%s %v: %v", c.cmd, c.props, r)
		}
	}
	var newWorker int
	proctest.Eventually(t, "the new w's worker", func() bool {
		l := ctl.pids("w")
		if len(l) == 1 && l[0] != oldWorker {
			newWorker = l[0]
		}
		return newWorker != 0
	})
	if err := os.WriteFile(goFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	helper := daemons(t, oldPids, 1)[0]
	pooldPid := strconv.Itoa(p.cmd.Process.Pid)
	proctest.Eventually(t, fmt.Sprintf("helper %d is poold's child", helper), func() bool { return parentOf(helper) == pooldPid })
	if r := ctl.do("restart", map[string]any{"name": "w", "waiting": true}); r["status"] != "ok" {
		t.Fatalf("restart w: %v", r)
	}
	proctest.Eventually(t, "the new worker restarted", func() bool {
		l := ctl.pids("w")
		return len(l) == 1 && l[0] != newWorker
	})
	// The restart is done once the end of the new worker was handled,
	// its strays' stop included.
	if !proctest.Alive(helper) || !proctest.Alive(oldWorker) {
		t.Fatalf("helper %d of the running unmanaged worker %d stopped at the restart of the new worker %d (alive: %v, %v)",
			helper, oldWorker, newWorker, proctest.Alive(helper), proctest.Alive(oldWorker))
	}
}
