package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/poold/poold/watcher/proctest"
)

// A worker that ended while the old image handed over (after its last
// check for exits, before the exec) was reaped by that image, handed over
// as alive and taken by the new one as "ended with its exit status
// unknown" (r53-soak: 9 upgrades of 28, one of them an operator's kill -9
// never reported as one). The old image now reaps nothing from then on:
// the worker stays a zombie, which the new image reaps with its status.
func TestUpgradeKeepsTheExitOfAWorkerThatEndsInTheHandOver(t *testing.T) {
	t.Parallel()
	hold := filepath.Join(t.TempDir(), "hold")
	p := startUpgradable(t, fmt.Sprintf(upgradeConfig, 2), envTestHoldOld+"="+hold)
	proctest.Eventually(t, "2 workers", func() bool { return len(p.pids("web")) == 2 })
	victim := p.pids("web")[0]
	release := holdUpgrade(t, p, hold)
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Ended: a zombie nobody reaps, or gone (reaped by the old image).
	proctest.Eventually(t, "the killed worker to end", func() bool {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(victim) + "/stat")
		i := bytes.LastIndexByte(b, ')')
		return err != nil || (i > 0 && bytes.HasPrefix(b[i+1:], []byte(" Z")))
	})
	release()
	waitUpgraded(t, p)
	proctest.Eventually(t, "2 workers again", func() bool {
		pids := p.pids("web")
		return len(pids) == 2 && !strings.Contains(fmt.Sprint(pids), strconv.Itoa(victim))
	})
	_, topics, payloads := p.events()
	var code any
	for i, topic := range topics {
		if pid, _ := payloads[i]["process_pid"].(float64); int(pid) == victim && topic == "watcher.web.reap" {
			code = payloads[i]["exit_code"]
		}
	}
	if code != float64(-int(syscall.SIGKILL)) {
		t.Errorf("the worker killed during the hand-over (pid %d) was reaped with exit_code %v, want %d (SIGKILL); log:\n%s",
			victim, code, -int(syscall.SIGKILL), p.log.String())
	}
}
