package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/poold/poold/watcher/proctest"
)

// supervisordSite writes a supervisord.conf into a fresh directory whose
// programs append a line to DIR/NAME.runs each time they start, and sets
// poold's endpoints to private ones in that directory.
func supervisordSite(t *testing.T, conf string) (dir, path string) {
	t.Helper()
	dir = t.TempDir()
	t.Setenv("POOLD_ARBITER_ENDPOINT", "ipc://"+dir+"/c.sock")
	t.Setenv("POOLD_ARBITER_PUBSUB_ENDPOINT", "ipc://"+dir+"/e.sock")
	t.Setenv("POOLD_ARBITER_STATS_ENDPOINT", "ipc://"+dir+"/s.sock")
	path = filepath.Join(dir, "supervisord.conf")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(conf, "DIR", dir)), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, path
}

// runs counts the lines of DIR/NAME.runs: how often program NAME started.
func runs(dir, name string) int {
	b, _ := os.ReadFile(filepath.Join(dir, name+".runs"))
	return strings.Count(string(b), "\n")
}

// Defect: supervisord's autorestart=unexpected, its default, leaves a
// program that exits with an expected status (exitcodes, default 0)
// EXITED; poold started it again forever (then called it flapping),
// so a one-shot job ran in a loop.
func TestSupervisordExpectedExitIsNotRestarted(t *testing.T) {
	dir, path := supervisordSite(t, `
[program:once]
command=/bin/sh -c 'echo run >> DIR/once.runs; exit 0'
startsecs=0

[program:three]
command=/bin/sh -c 'echo run >> DIR/three.runs; exit 3'
startsecs=0
autorestart=unexpected
exitcodes=0,3

[program:again]
command=/bin/sh -c 'echo run >> DIR/again.runs; exit 0'
startsecs=0
autorestart=true
`)
	p := launchPoold(t, nil, dir, path, nil)
	c := dialControl(t, p)
	// again restarts after status 0 (autorestart=true): by its third run,
	// once and three have had time to be restarted, had they been.
	proctest.Eventually(t, "again started 3 times", func() bool { return runs(dir, "again") >= 3 })
	for _, name := range []string{"once", "three"} {
		proctest.Eventually(t, name+" stopped", func() bool {
			r := call(t, c, "status", map[string]any{"name": name})
			return r["status"] == "stopped"
		})
		if n := runs(dir, name); n != 1 {
			t.Errorf("%s ran %d times; want once: its status is in exitcodes and autorestart is unexpected", name, n)
		}
	}
	call(t, c, "start", map[string]any{"name": "once", "waiting": true})
	proctest.Eventually(t, "once started again by start", func() bool { return runs(dir, "once") == 2 })
}
