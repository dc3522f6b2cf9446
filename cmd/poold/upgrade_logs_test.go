package main

import (
	"slices"
	"testing"

	"github.com/poold/poold/watcher/proctest"
)

// The lines `poolctl logs` and the console read survive an upgrade: the
// new image keeps the ring, its line numbers and its epoch, so a
// follower asking for what came after its last line misses nothing, and
// the output of a worker that died before the exec (why a watcher
// flaps) is still there.
func TestUpgradeKeepsWorkerLogRing(t *testing.T) {
	t.Parallel()
	p := startUpgradable(t, `
[arbiter]
ENDPOINTS
[watchers.talk]
cmd = "/bin/sh"
args = ["-c", "for i in 1 2 3 4 5; do echo line $i; done; exec sleep 3600"]
[watchers.once]
cmd = "/bin/sh"
args = ["-c", "echo FATAL cannot open app.conf; exit 0"]
respawn = false
`)
	logs := func(name string, since float64) (lines []string, last, epoch float64) {
		t.Helper()
		r := p.do("logs", map[string]any{"name": name, "lines": 100, "since": since})
		if r["status"] != "ok" {
			t.Fatalf("logs %s: %v", name, r)
		}
		recs, _ := r["lines"].([]any)
		for _, l := range recs {
			lines = append(lines, l.(map[string]any)["line"].(string))
		}
		return lines, r["last"].(float64), r["epoch"].(float64)
	}
	want := []string{"line 1", "line 2", "line 3", "line 4", "line 5"}
	var epoch, last float64
	proctest.Eventually(t, "5 lines of talk and the line of once", func() bool {
		var lines []string
		lines, last, epoch = logs("talk", 0)
		once, _, _ := logs("once", 0)
		return slices.Equal(lines, want) && slices.Equal(once, []string{"FATAL cannot open app.conf"})
	})
	if o, refused := p.upgrade(); refused != nil || o["state"] != "upgraded" {
		t.Fatalf("upgrade: outcome %v, refusal %v", o, refused)
	}
	lines, lastAfter, epochAfter := logs("talk", 0)
	if !slices.Equal(lines, want) || lastAfter != last || epochAfter != epoch {
		t.Fatalf("after the upgrade: lines %q, last %v, epoch %v; want %q, last %v, epoch %v (the ring as it was)",
			lines, lastAfter, epochAfter, want, last, epoch)
	}
	if lines, _, _ := logs("talk", 3); !slices.Equal(lines, want[3:]) {
		t.Fatalf("lines after #3 across the upgrade: %q, want %q", lines, want[3:])
	}
	if once, _, _ := logs("once", 0); len(once) != 1 {
		t.Fatalf("the line of a worker gone before the upgrade: %q, want it kept", once)
	}
}

// A worker that closed its stdout or its stderr (a wrapper's `exec
// >app.log`, a daemon closing what it does not use) left one pipe of two
// in the state, the other as -1, and every upgrade failed on it: "keep
// fds open across the exec: fd -1: bad file descriptor".
func TestUpgradeWithWorkersThatClosedAnOutput(t *testing.T) {
	t.Parallel()
	p := startUpgradable(t, `
[arbiter]
ENDPOINTS
[watchers.noout]
cmd = "/bin/sh"
args = ["-c", "exec >&-; exec sleep 3600"]
[watchers.noerr]
cmd = "/bin/sh"
args = ["-c", "exec 2>&-; exec sleep 3600"]
`)
	var before []int
	proctest.Eventually(t, "a worker of each watcher", func() bool {
		before = append(p.pids("noout"), p.pids("noerr")...)
		return len(before) == 2
	})
	if o, refused := p.upgrade(); refused != nil || o["state"] != "upgraded" {
		t.Fatalf("upgrade: outcome %v, refusal %v", o, refused)
	}
	if after := append(p.pids("noout"), p.pids("noerr")...); !slices.Equal(after, before) {
		t.Fatalf("workers after the upgrade: %v, want %v taken over", after, before)
	}
}
