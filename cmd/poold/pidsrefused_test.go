package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/poold/poold/watcher/proctest"
)

// forkerConfig runs a worker that starts more processes than its
// pids_max allows: its fourth fork fails, and the shell exits 2 with
// "Cannot fork", leaving the three it started.
const forkerConfig = `
[arbiter]
ENDPOINTS

[watchers.forker]
cmd = "/bin/sh"
args = ["-c", "for i in 1 2 3 4 5 6; do sleep 1000 & done; wait"]
pids_max = 4
respawn = false
graceful_timeout = "2s"
`

// A worker that exits because its pids_max refused a fork is told so.
// Before, its exit reason said "exited with status 2, leaving 3
// process(es) running, which poold killed: a worker must stay in the
// foreground (if the program daemonizes, ...)": the limit was never
// named, and the advice sent the user after a daemonizing program.
func TestPidsLimitIsNamedInTheExitReason(t *testing.T) {
	p := startPoold(t, forkerConfig)
	needCgroups(t, p)
	c := dialControl(t, p)
	var last string
	proctest.Eventually(t, "the forker's exit reason", func() bool {
		r := call(t, c, "status", map[string]any{"name": "forker"})
		if slots, _ := r["slots"].([]any); len(slots) == 1 {
			last = fmt.Sprint(slots[0].(map[string]any)["last_exit"])
		}
		return last != "" && last != "<nil>"
	})
	if !strings.Contains(last, "a pids limit refused") || !strings.Contains(last, "pids_max (4)") || strings.Contains(last, "foreground") {
		t.Fatalf("last_exit %q; want it to name pids_max (4) as what refused the fork, and no daemonizing advice", last)
	}
	t.Logf("last_exit: %s", last)
	p.waitLog(`a pids limit refused 1 fork\(s\) .*pids_max \(4\)`, 1)
}
