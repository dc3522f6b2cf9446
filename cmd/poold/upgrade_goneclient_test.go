package main

import (
	"context"
	"slices"
	"syscall"
	"testing"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/arbiter/controller/ctlclient"
	"github.com/poold/poold/watcher/proctest"
)

// A waited reload whose old worker drains for a long graceful_timeout
// held an upgrade for 90 s and had it refused ("waited commands not
// answered yet (reload "web") ... send those without waiting"), even
// after the reload's client was gone (Ctrl-C): poold waited to send an
// answer nobody would read (r58 M-B). Once the client's connection
// closes, poold stops holding the upgrade for that answer: the upgrade
// goes on, and the drain is carried across the exec as for a reload sent
// with --no-wait.
func TestUpgradeNotHeldByWaitedReloadOfGoneClient(t *testing.T) {
	t.Parallel()
	p := startUpgradable(t, `
[arbiter]
ENDPOINTS
[watchers.web]
cmd = "sh"
args = ["-c", "trap '' TERM; while :; do sleep 0.1; done"]
numprocesses = 1
readiness = "delay"
ready_delay = "200ms"
graceful_timeout = "1h"
`)
	proctest.Eventually(t, "web's worker ready", func() bool {
		return p.do("status", map[string]any{"name": "web"})["status"] == "active" && len(p.pids("web")) == 1
	})
	old := p.pids("web")[0]
	t.Cleanup(func() {
		_ = syscall.Kill(old, syscall.SIGKILL) // it ignores SIGTERM for an hour
		// So does the reload's new worker: poold's stop at the end
		// kills it at once, not at the test's 30 s bound.
		_, _ = p.try("set", map[string]any{"name": "web", "options": map[string]any{"graceful_timeout": 0}})
	})

	c, err := ctlclient.Dial(p.endpoint())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	answered := make(chan error, 1)
	go func() {
		_, err := c.Do(ctx, arbiter.Request{Command: "reload", Properties: map[string]any{"name": "web", "waiting": true}})
		answered <- err
	}()
	proctest.Eventually(t, "the reload's new worker", func() bool { return len(p.pids("web")) == 2 })
	// The client gives up, as poolctl does on Ctrl-C: its connection closes.
	cancel()
	<-answered
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	o, refused := p.upgrade()
	if refused != nil || o["state"] != "upgraded" {
		t.Fatalf("upgrade after the waited reload's client left: outcome %v, refusal %v; want upgraded", o, refused)
	}
	if pids := p.pids("web"); len(pids) != 2 || !slices.Contains(pids, old) {
		t.Errorf("web after the upgrade: pids %v, want the new worker and the old one %d still draining (carried across the exec)", pids, old)
	}
}
