package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/poold/poold/watcher/proctest"
)

// blockingParent starts argv[1] with argv[1:] after blocking signals, as
// a Python supervisor or deploy script that blocks them may leave them
// for its children.
const blockingParent = `import os, signal, sys
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1, signal.SIGWINCH, signal.SIGALRM, signal.SIGPIPE, signal.SIGHUP})
os.execv(sys.argv[1], sys.argv[1:])`

const sigmaskConfig = `
[arbiter]
ENDPOINTS

[sockets.web]
port = 0

# Exec'd directly.
[watchers.plain]
cmd = %[1]q
args = ["3600"]

# Through the exec stub (LISTEN_PID).
[watchers.listen]
cmd = %[1]q
args = ["3600"]
sockets = ["web"]

# Through the exec stub, waiting while poold sets the rlimits.
[watchers.limited]
cmd = %[1]q
args = ["3600"]
rlimits = { core = 0 }
`

// TestWorkersStartWithNoSignalBlocked: poold started with signals
// blocked gave every worker the same blocked signals (SigBlk
// 0000000008003200 for USR1, PIPE, ALRM and WINCH), whatever its exec
// step, so a worker's SIGUSR1 or SIGWINCH handler never ran. Workers now
// start with none blocked, as under systemd.
func TestWorkersStartWithNoSignalBlocked(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := writeConfig(t, dir, fmt.Sprintf(sigmaskConfig, sleep))
	wrapper := exec.Command("/usr/bin/python3", "-c", blockingParent, pooldBinary(t), cfg)
	p := startCmd(t, wrapper, cfg, nil)
	pid := p.cmd.Process.Pid // python3's, then poold's: execv keeps it
	var workers map[string]int
	proctest.Eventually(t, "a worker of each watcher", func() bool {
		workers = workersByWatcher(pid)
		return len(workers) == 3
	})
	const none = "0000000000000000"
	for name, w := range workers {
		if got := procStatus(t, w, "SigBlk"); got != none {
			t.Errorf("worker of %s (pid %d) starts with signals blocked: SigBlk %s, want %s", name, w, got, none)
		}
	}
	// Re-executed through /proc/self/exe, it keeps its name (not "exe").
	if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err != nil || strings.TrimSpace(string(comm)) != filepath.Base(pooldBinary(t))[:min(15, len(filepath.Base(pooldBinary(t))))] {
		t.Errorf("poold's name after clearing its signal mask: %q (%v), want %q", comm, err, filepath.Base(pooldBinary(t)))
	}
	// The main thread is the spawner's: while it forks (Go blocks every
	// signal around a fork) its mask is full for a moment (CI read
	// fffffffffffbfeff once). What must not be is a mask that stays.
	var got string
	if !proctest.Poll(hang, func() bool {
		got = procStatus(t, pid, "SigBlk")
		return got == none
	}) {
		t.Errorf("poold (pid %d) runs with signals blocked on its main thread: SigBlk %s", pid, got)
	}
}
