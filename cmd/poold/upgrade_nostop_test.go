package main

import (
	"fmt"
	"strings"
	"syscall"
	"testing"

	"github.com/poold/poold/watcher/proctest"
)

// TestUpgradeRefusedWhileRmNostopWorkersRun: the workers rm --nostop
// leaves running are not in the upgrade state, so after an upgrade the
// new image neither stopped them at quit (they died by their parent-death
// SIGKILL, with no SIGTERM and no grace) nor knew them. The upgrade is now
// refused while they run, nothing changed, and goes through once they are
// gone.
func TestUpgradeRefusedWhileRmNostopWorkersRun(t *testing.T) {
	p := startUpgradable(t, fmt.Sprintf(upgradeConfig, 1))
	proctest.Eventually(t, "1 worker", func() bool { return len(p.pids("web")) == 1 })
	left := p.pids("web")[0]
	p.do("rm", map[string]any{"name": "web", "nostop": true})
	_, refused := p.upgrade()
	if refused == nil || !strings.Contains(reason(refused), "rm --nostop") || !strings.Contains(reason(refused), fmt.Sprint(left)) {
		t.Fatalf("upgrade with a worker rm --nostop left running: %v; want a refusal naming it", refused)
	}
	p.alive()
	if err := syscall.Kill(left, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	proctest.Eventually(t, "the left worker gone", func() bool { return !proctest.Alive(left) })
	proctest.Eventually(t, "the upgrade goes through once it is gone", func() bool {
		o, refused := p.upgrade()
		return refused == nil && o["state"] == "upgraded"
	})
}
