package main

import (
	"slices"
	"testing"

	"github.com/poold/poold/watcher/proctest"
)

// An upgrade asked for while a rolling reload is in flight waits for it:
// the reload completes in the old image, every worker replaced, then
// poold re-executes itself; nothing is refused (issue 14).
func TestUpgradeWaitsForRollingReload(t *testing.T) {
	p := startUpgradable(t, `
[arbiter]
ENDPOINTS
[watchers.web]
cmd = "sleep"
args = ["3600"]
numprocesses = 3
readiness = "delay"
ready_delay = "400ms"
`)
	proctest.Eventually(t, "3 workers ready", func() bool {
		return p.do("status", map[string]any{"name": "web"})["status"] == "active" && len(p.pids("web")) == 3
	})
	old := p.pids("web")
	if r := p.do("reload", map[string]any{"name": "web", "waiting": false}); r["status"] != "ok" {
		t.Fatalf("reload: %v", r)
	}
	o, refused := p.upgrade()
	if refused != nil || o["state"] != "upgraded" {
		t.Fatalf("upgrade during a rolling reload: outcome %v, refusal %v", o, refused)
	}
	now := p.pids("web")
	for _, pid := range old {
		if slices.Contains(now, pid) {
			t.Fatalf("worker %d of before the reload still runs after the upgrade (pids %v): the rollout did not complete first", pid, now)
		}
	}
	if len(now) != 3 {
		t.Fatalf("pids %v after the upgrade, want 3", now)
	}
	seqs, topics, _ := p.events()
	checkSeqs(t, seqs)
	reload, up := slices.Index(topics, "watcher.web.reload"), slices.Index(topics, "arbiter.upgrade")
	if reload < 0 || up < 0 || reload > up {
		t.Fatalf("want the reload's end (at %d) before arbiter.upgrade (at %d) in %v", reload, up, topics)
	}
}
