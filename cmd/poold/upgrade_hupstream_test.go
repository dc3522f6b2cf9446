package main

import (
	"fmt"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/watcher/proctest"
)

// F2 (r59b): a SIGHUP that came during the exec of an upgrade, or before
// the new image's runtime handed it to package catch, ended poold with
// its default action, and every worker with it. A deploy tool sending
// SIGHUP all the time now costs at most a reload: poold and its workers
// live through a stream of them during the whole upgrade.
func TestHangupStreamDuringUpgrade(t *testing.T) {
	signalStreamDuringUpgrade(t, syscall.SIGHUP)
}

// So for SIGUSR1 (logrotate's postrotate sends it): the new image's
// runtime takes it over as it starts, but from the execve to then its
// default action, to end the process, applied.
func TestReopenStreamDuringUpgrade(t *testing.T) {
	signalStreamDuringUpgrade(t, syscall.SIGUSR1)
}

// signalStreamDuringUpgrade sends sig to poold every 0.5 ms through an
// upgrade, which poold and its workers must outlive.
func signalStreamDuringUpgrade(t *testing.T, sig syscall.Signal) {
	p := startUpgradable(t, fmt.Sprintf(upgradeConfig, 2))
	proctest.Eventually(t, "2 workers", func() bool { return len(p.pids("web")) == 2 })
	before := p.pids("web")
	var wg sync.WaitGroup
	stop := make(chan struct{})
	tick := time.NewTicker(500 * time.Microsecond) // paces the stream, synchronises nothing
	defer tick.Stop()
	repeatUntil(&wg, stop, func() {
		_ = p.cmd.Process.Signal(sig)
		<-tick.C
	})
	func() {
		defer func() { close(stop); wg.Wait() }()
		proctest.Eventually(t, "an upgrade to be taken", func() bool {
			p.alive()
			r, err := p.try("upgrade", nil)
			return err == nil && r["status"] == "ok"
		})
		waitUpgraded(t, p)
	}()
	p.alive()
	if now := p.pids("web"); !slices.Equal(now, before) {
		t.Errorf("web pids %v after the upgrade, want %v", now, before)
	}
	for _, pid := range before {
		if err := syscall.Kill(pid, 0); err != nil {
			t.Errorf("worker %d: %v", pid, err)
		}
	}
}
