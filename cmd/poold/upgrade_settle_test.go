package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/poold/poold/watcher/proctest"
)

// An upgrade asked for while a rolling reload is in flight waits for it:
// the reload completes in the old image, every worker replaced, then
// poold re-executes itself; nothing is refused (issue 14).
func TestUpgradeWaitsForRollingReload(t *testing.T) {
	t.Parallel()
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

// An upgrade that waits for a rolling reload beside a crash loop logged
// "upgrade: waiting for watchers to settle" (several lines each) every
// time the reason changed, and a crash loop changes it at each of its
// workers' starts and ends: 33 records in 9 s of a soak, up to one per
// 50 ms poll over the 90 s wait. A change is logged at most every
// settleLogEvery now; upgrade_status keeps the current reason.
func TestUpgradeSettleWaitLogsSparingly(t *testing.T) {
	t.Parallel()
	p := startUpgradable(t, `
[arbiter]
ENDPOINTS
[watchers.crash]
cmd = "/bin/sh"
args = ["-c", "sleep 0.2; exit 3"]
numprocesses = 1
backoff_min = "50ms"
backoff_max = "100ms"
flapping_attempts = 0
[watchers.slow]
cmd = "/bin/sh"
args = ["-c", "trap 'sleep 4; exit 0' TERM; while :; do sleep 0.1; done"]
readiness = "delay"
ready_delay = "200ms"
graceful_timeout = "20s"
`)
	proctest.Eventually(t, "slow to be active", func() bool {
		return p.do("status", map[string]any{"name": "slow"})["status"] == "active"
	})
	// A waited reload is answered once the old worker has stopped, 4 s
	// on; the upgrade waits for the answer meanwhile.
	reloaded := make(chan error, 1)
	go func() {
		r, err := p.try("reload", map[string]any{"name": "slow", "waiting": true})
		if err == nil && r["status"] != "ok" {
			err = fmt.Errorf("%v", r)
		}
		reloaded <- err
	}()
	proctest.Eventually(t, "the old and the new worker of slow", func() bool { return len(p.pids("slow")) == 2 })
	o, refused := p.upgrade()
	if err := <-reloaded; err != nil {
		t.Errorf("waited reload: %v", err)
	}
	if refused != nil || o["state"] != "upgraded" {
		t.Fatalf("upgrade during a rolling reload: outcome %v, refusal %v", o, refused)
	}
	const said = "upgrade: waiting for watchers to settle"
	if n := strings.Count(p.log.String(), said); n < 1 || n > 2 {
		t.Errorf("%q logged %d times over a wait of about 4 s; want once, or twice (a change after settleLogEvery)", said, n)
	}
}
