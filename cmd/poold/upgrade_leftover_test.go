package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/poold/poold/watcher/proctest"
)

// A worker that exited while what it left (a child that ignores SIGTERM,
// in a session of its own) was still being stopped: an upgrade then took
// the worker over as stopping, could not wait for a pid that was no
// longer its child, and kept it stopping for ever; the watcher never
// stopped, nor did poold (r48b core review). The upgrade now waits for
// such exits.
func TestUpgradeWaitsForAnExitWhoseLeftoversStop(t *testing.T) {
	t.Parallel()
	p := startUpgradable(t, `
[arbiter]
ENDPOINTS
[watchers.web]
cmd = "/bin/sh"
args = ["-c", "setsid sh -c 'trap \"\" TERM; exec sleep 3600' </dev/null >/dev/null 2>&1 & exec sleep 3600"]
graceful_timeout = "3s"
`)
	proctest.Eventually(t, "the worker", func() bool { return len(p.pids("web")) == 1 })
	worker := p.pids("web")[0]
	if r := p.do("stop", map[string]any{"name": "web"}); r["status"] != "ok" {
		t.Fatalf("stop: %v", r)
	}
	proctest.Eventually(t, "the worker itself to exit", func() bool { return !proctest.Alive(worker) })
	if o, refused := p.upgrade(); refused != nil || o["state"] != "upgraded" {
		t.Fatalf("upgrade while the worker's leftover is stopped: %v %v", o, refused)
	}
	proctest.Eventually(t, "web to be stopped", func() bool {
		return p.do("status", map[string]any{"name": "web"})["status"] == "stopped"
	})
}

// The same, when the worker exits in the last moments before the exec,
// after the upgrade's last look: the new image cannot watch it, and
// dropped it, so its stop never completed (stopping for ever, r48c
// review). It takes it as ended now, and the stop completes; since the
// old image holds its reaps through the hand-over, the new one reaps the
// worker itself, with its exit status.
func TestUpgradeTakesAWorkerThatEndedJustBeforeTheExecAsEnded(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	hold, trapped := filepath.Join(dir, "hold"), filepath.Join(dir, "trapped")
	p := startUpgradable(t, fmt.Sprintf(`
[arbiter]
ENDPOINTS
[watchers.web]
cmd = "/bin/sh"
args = ["-c", "setsid sh -c 'trap \"\" TERM; exec sleep 3600' </dev/null >/dev/null 2>&1 & trap 'sleep 2; exit 0' TERM; : > %s; while :; do sleep 0.1 & wait; done"]
graceful_timeout = "6s"
`, trapped), envTestHoldOld+"="+hold)
	proctest.Eventually(t, "the worker", func() bool { return len(p.pids("web")) == 1 })
	worker := p.pids("web")[0]
	// Its TERM trap set: a stop before it killed the worker outright, and
	// the test saw "killed by signal TERM" (1 run in 4).
	waitTrapped(t, trapped)
	if r := p.do("stop", map[string]any{"name": "web"}); r["status"] != "ok" {
		t.Fatalf("stop: %v", r)
	}
	release := holdUpgrade(t, p, hold)
	proctest.Eventually(t, "the worker itself to exit", func() bool { return !proctest.Alive(worker) })
	release()
	waitUpgraded(t, p)
	proctest.Eventually(t, "web to be stopped", func() bool {
		return p.do("status", map[string]any{"name": "web"})["status"] == "stopped"
	})
	// The new image reaped it: the exit event has its status (it was
	// "exit status unknown" while the old image reaped it in the hand-
	// over, and "exited with status -1" before that).
	_, topics, payloads := p.events()
	for i, topic := range topics {
		if topic != "watcher.web.exit" {
			continue
		}
		why, _ := payloads[i]["exit_reason"].(string)
		if !strings.Contains(why, "exited with status 0") {
			t.Errorf("exit event of the worker that ended in the hand-over: exit_reason %q, want its exit status 0", why)
		}
		// The adoption's warning says what happened; an ERROR "lost
		// track of a worker" after it had nothing to act on (r49).
		if strings.Contains(p.log.String(), "lost track of a worker") {
			t.Errorf("poold logged an error for the worker it took as ended, after warning of it:\n%s", p.log.String())
		}
		return
	}
	t.Errorf("no watcher.web.exit event among %v", topics)
}

// waitTrapped waits for marker, which a test's shell worker writes once
// its TERM trap is set: a stop or reload before it kills it outright.
func waitTrapped(t *testing.T, marker string) {
	t.Helper()
	proctest.Eventually(t, "the worker's TERM trap", func() bool {
		_, err := os.Stat(marker)
		return err == nil
	})
}

// startTrappedWeb starts an upgradable poold whose watcher "web" runs one
// shell worker deaf to SIGTERM, stopped only at graceful (a duration), and
// returns once that worker's trap is set, with its pid.
func startTrappedWeb(t *testing.T, graceful string) (*upProc, int) {
	t.Helper()
	trapped := filepath.Join(t.TempDir(), "trapped")
	p := startUpgradable(t, fmt.Sprintf(`
[arbiter]
ENDPOINTS
[watchers.web]
cmd = "/bin/sh"
args = ["-c", "trap '' TERM; : > %s.$$; while :; do sleep 0.2; done"]
graceful_timeout = %q
`, trapped, graceful))
	proctest.Eventually(t, "a worker", func() bool { return len(p.pids("web")) == 1 })
	pid := p.pids("web")[0]
	waitTrapped(t, fmt.Sprintf("%s.%d", trapped, pid))
	return p, pid
}
