package main

import (
	"os"
	"strings"
	"testing"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/watcher/proctest"
)

// An upgrade asked for while a config reload is in progress waits for
// the reload's end. It used to wait for the rolling reload only and exec
// while the old workers drained, so a waited reloadconfig lost its
// connection (poolctl: poold unreachable, exit 3) though the reload had
// applied, and a reload whose file was still being read was dropped.
func TestUpgradeWaitsForConfigReload(t *testing.T) {
	t.Parallel()
	p := startUpgradable(t, `
[arbiter]
ENDPOINTS
[watchers.web]
cmd = "sh"
args = ["-c", "trap 'sleep 1; exit 0' TERM; while :; do sleep 0.1; done"]
numprocesses = 2
readiness = "delay"
ready_delay = "200ms"
graceful_timeout = "20s"
`)
	proctest.Eventually(t, "2 workers ready", func() bool {
		return p.do("status", map[string]any{"name": "web"})["status"] == "active" && len(p.pids("web")) == 2
	})
	b, err := os.ReadFile(p.cfg)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(b), "numprocesses = 2", "numprocesses = 2\nenv = [\"V=2\"]", 1)
	if err := os.WriteFile(p.cfg, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	type answer struct {
		r   arbiter.Reply
		err error
	}
	reloaded := make(chan answer, 1)
	go func() {
		r, err := p.try("reloadconfig", map[string]any{"waiting": true})
		reloaded <- answer{r, err}
	}()
	proctest.Eventually(t, "the reload's new workers", func() bool { return len(p.pids("web")) > 2 })
	o, refused := p.upgrade()
	got := <-reloaded
	if got.err != nil || got.r["status"] != "ok" {
		t.Errorf("waited reloadconfig during an upgrade: %v %v, want its ok answer", got.r, got.err)
	}
	if refused != nil || o["state"] != "upgraded" {
		t.Fatalf("upgrade during a config reload: outcome %v, refusal %v", o, refused)
	}
}
