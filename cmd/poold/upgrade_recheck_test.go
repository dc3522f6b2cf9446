package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/poold/poold/watcher/proctest"
)

// recheckConfig: a serving pool, and one whose workers take 50 s to
// be ready, so that an incr makes an upgrade wait.
const recheckConfig = `
[arbiter]
ENDPOINTS
[sockets.web]
port = 0
[watchers.web]
cmd = @WORKER@
numprocesses = 1
sockets = ["web"]
env = ["POOLD_TEST_WORKER=serve"]
[watchers.slow]
cmd = "sleep"
args = ["3600"]
numprocesses = 0
readiness = "delay"
ready_delay = "50s"
`

// A binary or config that changes while an upgrade waits for watchers to
// settle, after its pre-flight passed, is checked again before the exec:
// the upgrade is refused and nothing changes (the exec used to take the
// new binary or file unchecked: poold died and every worker with it).
func TestUpgradeChecksAgainAfterWaiting(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		change func(p *upProc)
		reason []string
	}{
		{"binary replaced by one that exits 0", func(p *upProc) {
			p.installBytes([]byte("#!/bin/sh\nexit 0\n"))
		}, []string{"--upgrade-check", "state formats"}},
		{"config broken", func(p *upProc) {
			if err := os.WriteFile(p.cfg, []byte("[watchers.web]\nnumprocesses = \"many\"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, []string{"--check", "numprocesses"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := startUpgradable(t, recheckConfig)
			proctest.Eventually(t, "1 web worker", func() bool { return len(p.pids("web")) == 1 })
			before := p.pids("web")
			// The new binary: poold, held in its --check until go exists.
			checked, goOn := filepath.Join(p.dir, "checked"), filepath.Join(p.dir, "go")
			p.installBytes(fmt.Appendf(nil, "#!/bin/sh\nif [ \"$1\" = --check ]; then\n  touch %s\n  n=0; while [ ! -e %s ] && [ $n -lt 3000 ]; do sleep 0.01; n=$((n+1)); done\nfi\nexec %s \"$@\"\n",
				checked, goOn, pooldBinary(t)))
			upgradeWaitingForSlow(t, p, checked, goOn)
			c.change(p)
			if r := p.do("decr", map[string]any{"name": "slow"}); r["status"] != "ok" {
				t.Fatalf("decr slow: %v", r)
			}
			var o map[string]any
			proctest.Eventually(t, "the upgrade's outcome", func() bool {
				select {
				case <-p.done:
					t.Fatalf("poold exited during the upgrade (status %v)", p.cmd.ProcessState)
				default:
				}
				r, err := p.try("upgrade_status", nil)
				o, _ = r["upgrade"].(map[string]any)
				return err == nil && o["state"] != "upgrading"
			})
			if o["state"] != "refused" || !contains(fmt.Sprint(o["reason"]), c.reason...) {
				t.Fatalf("outcome %v; want refused, the reason naming %q", o, c.reason)
			}
			p.alive()
			if now := p.pids("web"); !slices.Equal(now, before) {
				t.Errorf("web pids %v after the refusal, want %v", now, before)
			}
		})
	}
}

// An upgrade that waits for watchers to settle after its pre-flight
// passed runs it again only when what it checked changed: the same file
// on the same config and state is not run again. It was, after each
// wait: under a crash loop or a rollout, every 0.4 s or so (a soak
// counted 50 pre-flights for 28 upgrades), two runs of a Go binary each.
func TestUpgradeChecksOnceWhenNothingChanged(t *testing.T) {
	t.Parallel()
	p := startUpgradable(t, recheckConfig)
	proctest.Eventually(t, "1 web worker", func() bool { return len(p.pids("web")) == 1 })
	runs, checked, goOn := filepath.Join(p.dir, "runs"), filepath.Join(p.dir, "checked"), filepath.Join(p.dir, "go")
	p.installBytes(fmt.Appendf(nil, "#!/bin/sh\necho \"$1\" >> %s\nif [ \"$1\" = --check ] && [ ! -e %s ]; then\n  touch %s\n  n=0; while [ ! -e %s ] && [ $n -lt 3000 ]; do sleep 0.01; n=$((n+1)); done\nfi\nexec %s \"$@\"\n",
		runs, goOn, checked, goOn, pooldBinary(t)))
	upgradeWaitingForSlow(t, p, checked, goOn)
	if r := p.do("decr", map[string]any{"name": "slow"}); r["status"] != "ok" {
		t.Fatalf("decr slow: %v", r)
	}
	waitUpgraded(t, p)
	b, err := os.ReadFile(runs)
	if err != nil {
		t.Fatal(err)
	}
	// The new image's own start runs the script too: with no argument
	// but the config.
	var checks []string
	for _, l := range strings.Fields(string(b)) {
		if strings.HasPrefix(l, "--") {
			checks = append(checks, l)
		}
	}
	if !slices.Equal(checks, []string{"--upgrade-check", "--check"}) {
		t.Errorf("the pre-flight ran the binary with %v; want it run once (--upgrade-check, --check): nothing changed during the wait", checks)
	}
	// What ran is logged, what did not is not: the check was logged at
	// every round of the wait (57 lines for 26 upgrades in r54's soak).
	const checking = "upgrade: checking the new binary"
	if n := strings.Count(p.log.String(), checking); n != 1 {
		t.Errorf("%q logged %d times; want once, as it ran once", checking, n)
	}
}

// upgradeWaitingForSlow asks p for an upgrade whose binary holds its
// --check (touching checked) until goOn exists, starts a worker of slow
// meanwhile, and returns once the upgrade waits for slow to settle. The
// test's end waits for the upgrade's request.
func upgradeWaitingForSlow(t *testing.T, p *upProc, checked, goOn string) {
	t.Helper()
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	wg.Add(1)
	go func() { defer wg.Done(); _, _ = p.try("upgrade", nil) }()
	proctest.Eventually(t, "the pre-flight's --check", func() bool { _, err := os.Stat(checked); return err == nil })
	if r := p.do("incr", map[string]any{"name": "slow"}); r["status"] != "ok" {
		t.Fatalf("incr slow: %v", r)
	}
	if err := os.WriteFile(goOn, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	proctest.Eventually(t, "the upgrade to wait for slow", func() bool {
		o := p.outcome()
		return o["state"] == "upgrading" && contains(fmt.Sprint(o["reason"]), `"slow"`)
	})
}
