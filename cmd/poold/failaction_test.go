package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/watcher/proctest"
)

// A watcher with failure_action = "exit" that can never start (its
// program exits 1 at once) makes poold stop every watcher and exit 69,
// as tini exits with its one app, so the orchestrator restarts the
// container; it stayed up for good with /readyz 503 (r66 pid1 M2).
func TestFailureActionExit(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "good.pid")
	p := startBinary(t, fmt.Sprintf(`
[arbiter]
ENDPOINTS

[watchers.good]
cmd = "/bin/sh"
args = ["-c", "echo $$ > %s; exec sleep 1000"]
priority = 1

[watchers.app]
cmd = "/bin/false"
failure_action = "exit"
backoff_min = "10ms"
backoff_max = "10ms"
flapping_attempts = 2
flapping_retry_in = "10ms"
flapping_max_retry = 0
`, pidFile), "XDG_RUNTIME_DIR="+dir)
	if code := p.wait(t); code != arbiter.ExitWatcherFailed {
		t.Fatalf("poold exited %d, want %d:\n%s", code, arbiter.ExitWatcherFailed, p.log.String())
	}
	log := p.log.String()
	for _, want := range []string{`watcher failed and its failure_action is exit`, `watcher=app`, `exit_status=69`, `watcher "app" failed`} {
		if !strings.Contains(log, want) {
			t.Errorf("no %q in the log:\n%s", want, log)
		}
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("the good watcher never started: %v\n%s", err, log)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	proctest.Eventually(t, "the good watcher's worker gone", func() bool {
		return syscall.Kill(pid, 0) == syscall.ESRCH
	})
}
