package main

import (
	"testing"

	"github.com/poold/poold/watcher/proctest"
)

// Defect: a program without startsecs (most real supervisord files) got
// poold's 10 s window for an early death instead of supervisord's default
// startsecs = 1, so one that crashed after a few seconds was taken for a
// failed start: with startretries it gave up (FATAL) where supervisord,
// which saw it RUNNING, restarts it forever.
func TestSupervisordDefaultStartsecs(t *testing.T) {
	dir, path := supervisordSite(t, `
[program:late]
command=/bin/sh -c 'echo run >> DIR/late.runs; sleep 1.3; exit 1'
startretries=0
`)
	p := launchPoold(t, nil, dir, path, nil)
	c := dialControl(t, p)
	proctest.Eventually(t, "late started 3 times", func() bool {
		if r := call(t, c, "status", map[string]any{"name": "late"}); r["state"] == "failed" {
			t.Fatalf("late gave up after %d run(s) of 1.3 s; supervisord (startsecs 1 by default) restarts it forever", runs(dir, "late"))
		}
		return runs(dir, "late") >= 3
	})
}
