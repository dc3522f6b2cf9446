package main

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/poold/poold/watcher/proctest"
)

// poold in a process group of its own whose parent shares its session
// (a job of an interactive shell, a program of supervisord) was stopped
// for good by `kill -TTIN`, gunicorn's way to add a worker: state T, no
// respawn, no answer to poolctl. It logs how to scale instead and goes
// on serving.
func TestSIGTTINAndSIGTTOUDoNotStopPoold(t *testing.T) {
	p := startBinaryWith(t, serveConfig, func(a *syscall.SysProcAttr) { a.Setpgid = true })
	p.waitLogBin(t, `worker (\d+) serving`)
	pid := p.cmd.Process.Pid
	for i, sig := range []syscall.Signal{syscall.SIGTTIN, syscall.SIGTTOU} {
		if err := p.cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		proctest.Eventually(t, fmt.Sprintf("poold logs that it ignored %v", sig), func() bool {
			if s := procState(pid); s == "T" {
				t.Fatalf("poold is stopped (state %s) after %v", s, sig)
			}
			return strings.Count(p.log.String(), "signal ignored: poold does not scale") > i
		})
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit code %d after SIGTTIN, SIGTTOU and SIGTERM, want 0", code)
	}
}

// procState is the state letter of pid in /proc/PID/stat ("" if gone).
func procState(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+3 <= len(s) {
		return s[i+2 : i+3]
	}
	return ""
}
