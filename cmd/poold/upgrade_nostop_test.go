package main

import (
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/watcher/proctest"
)

// TestUpgradeRefusedWhileRmNostopWorkersRun: the workers rm --nostop
// leaves running are not in the upgrade state, so after an upgrade the
// new image neither stopped them at quit (they died by their parent-death
// SIGKILL, with no SIGTERM and no grace) nor knew them. The upgrade is now
// refused while they run, nothing changed, and goes through once they are
// gone.
func TestUpgradeRefusedWhileRmNostopWorkersRun(t *testing.T) {
	t.Parallel()
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

// TestUpgradeAfterRmNostopCutAWaitedStop: a waited stop whose watcher
// rm --nostop removed mid-stop was never answered, and, parked for ever,
// made every later upgrade wait 90 s and be refused ("waited commands
// not answered yet (stop)") until poold restarted. The stop is now
// answered at once (errno 6, naming rm --nostop), and once the left
// worker is gone the upgrade goes through.
func TestUpgradeAfterRmNostopCutAWaitedStop(t *testing.T) {
	t.Parallel()
	p, left := startTrappedWeb(t, "1h") // deaf to SIGTERM
	t.Cleanup(func() { _ = syscall.Kill(left, syscall.SIGKILL) })
	type answer struct {
		r   arbiter.Reply
		err error
	}
	stopped := make(chan answer, 1)
	go func() {
		r, err := p.try("stop", map[string]any{"name": "web", "waiting": true})
		stopped <- answer{r, err}
	}()
	proctest.Eventually(t, "the stop's kill event", func() bool {
		_, topics, _ := p.events()
		return slices.Contains(topics, "watcher.web.kill")
	})
	if r := p.do("rm", map[string]any{"name": "web", "nostop": true}); r["status"] != "ok" {
		t.Fatalf("rm --nostop web: %v", r)
	}
	select {
	case a := <-stopped:
		if a.err != nil || a.r["errno"] != float64(arbiter.ErrnoAsync) || !strings.Contains(reason(a.r), "rm --nostop") {
			t.Errorf("the waited stop's answer: %v, error %v; want errno %d naming rm --nostop", a.r, a.err, arbiter.ErrnoAsync)
		}
	case <-time.After(hang):
		t.Fatalf("no answer to the waited stop within %v", hang)
	}
	if err := syscall.Kill(left, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Refused at once while poold has not reaped it yet (see above);
	// with the stop still parked, the first upgrade after that waited
	// 90 s and was refused.
	proctest.Eventually(t, "the upgrade goes through once the left worker is gone", func() bool {
		o, refused := p.upgrade()
		if refused != nil && !strings.Contains(reason(refused), "rm --nostop") {
			t.Fatalf("upgrade refused for another reason than the left worker: %v", refused)
		}
		return refused == nil && o["state"] == "upgraded"
	})
}
