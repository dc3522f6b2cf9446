package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/poold/poold/watcher/proctest"
)

// workerEnv is the environment of process pid, by name.
func workerEnv(t *testing.T, pid int) map[string]string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, kv := range strings.Split(string(b), "\x00") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	return env
}

// waitWorkers waits for one worker of each of n watchers of poold pid.
func waitWorkers(t *testing.T, pid, n int) map[string]int {
	t.Helper()
	var workers map[string]int
	proctest.Eventually(t, fmt.Sprintf("a worker of each of %d watchers", n), func() bool {
		workers = workersByWatcher(pid)
		return len(workers) == n
	})
	return workers
}

const copyEnvConfig = `
[arbiter]
ENDPOINTS

[watchers.app]
cmd = %q
args = ["3600"]
uid = "nobody"
copy_env = true
`

// poold's POOLD_* variables are its config overrides: with copy_env a
// worker of another user got them all, POOLD_WEB_TOKEN included, and with
// the console's operator token could `add` a command that poold ran as
// root. A worker keeps the rest of poold's environment.
func TestCopyEnvLeavesPooldOverridesOut(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the worker runs as nobody")
	}
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal(err)
	}
	p := startBinary(t, fmt.Sprintf(copyEnvConfig, sleep),
		"POOLD_WEB_TOKEN=operator-secret-0123456789",
		"POOLD_WATCHERS_APP_GRACEFUL_TIMEOUT=5",
		"IDENTITY_TEST_KEPT=yes")
	w := waitWorkers(t, p.cmd.Process.Pid, 1)["app"]
	env := workerEnv(t, w)
	for k, v := range env {
		if strings.HasPrefix(k, "POOLD_") && k != "POOLD_WID" && k != "POOLD_WATCHER" {
			t.Errorf("worker (pid %d, uid nobody) got poold's %s=%s", w, k, v)
		}
	}
	if env["IDENTITY_TEST_KEPT"] != "yes" || env["POOLD_WATCHER"] != "app" || env["POOLD_WID"] != "1" {
		t.Errorf("worker env lost what copy_env and poold give it: %v", env)
	}
}
