package main

import (
	"slices"
	"testing"

	"github.com/poold/poold/watcher/proctest"
)

// TestUpgradeDuringRmStillRemovesTheWatcher: an upgrade asked for while
// an rm's workers were still in their graceful stop handed the watcher to
// the new image as an ordinary one (the state has no "leaving"), so once
// its workers ended it stayed listed, stopped, for good: the rm was lost,
// after its remove event. The upgrade now waits for the removal to end.
func TestUpgradeDuringRmStillRemovesTheWatcher(t *testing.T) {
	t.Parallel()
	p := startUpgradable(t, `
[arbiter]
ENDPOINTS
[watchers.slow]
cmd = "/bin/sh"
args = ["-c", "trap '' TERM; while :; do sleep 0.2; done"]
graceful_timeout = "1s"
[watchers.keep]
cmd = "sleep"
args = ["3600"]
`)
	proctest.Eventually(t, "a worker of slow", func() bool { return len(p.pids("slow")) == 1 })
	worker := p.pids("slow")[0]
	if r := p.do("rm", map[string]any{"name": "slow"}); r["status"] != "ok" {
		t.Fatalf("rm slow: %v", r)
	}
	o, refused := p.upgrade()
	if refused != nil || o["state"] != "upgraded" {
		t.Fatalf("upgrade during an rm: outcome %v, refusal %v", o, refused)
	}
	proctest.Eventually(t, "slow's worker gone", func() bool { return !proctest.Alive(worker) })
	// Its exit is handled on the loop, which answers list after it.
	p.do("status", nil)
	watchers, _ := p.do("list", nil)["watchers"].([]any)
	if slices.Contains(watchers, any("slow")) {
		t.Fatalf("watchers %v after rm slow and an upgrade: slow came back (status %v)", watchers, p.do("status", map[string]any{"name": "slow"})["status"])
	}
}
