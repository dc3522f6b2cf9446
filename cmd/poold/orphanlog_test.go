package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// At exit poold stops the children that are no worker's (what workers
// left outside their process groups). It stopped its own log reader too:
// a wrapper's `exec > >(tee LOG) 2>&1; exec poold` leaves the tee as
// poold's child, in poold's process group, and the log lost its last
// lines ("poold stopped"). Children in poold's own group are not
// stopped.
func TestExitLeavesTheLogReaderOfAWrapper(t *testing.T) {
	dir := openTempDir(t)
	script, pidfile := writeDaemon(t, dir)
	cfg := writeConfig(t, dir, fmt.Sprintf(daemonConfig, 0, script))
	logFile := filepath.Join(dir, "poold.log")
	wrapper := exec.Command("/bin/bash", "-c", `exec > >(exec tee "$0") 2>&1; exec "$1" "$2"`, logFile, pooldBinary(t), cfg)
	p := startCmd(t, wrapper, cfg, func(a *syscall.SysProcAttr) {
		a.Setpgid = true // a process group of its own, as a shell's job
		withoutCgroups(a)
	})
	p.waitLogBin(t, `containment: (process groups) only`)
	daemon := daemons(t, pidfile, 1)[0]
	t.Cleanup(func() { _ = syscall.Kill(daemon, syscall.SIGKILL) })
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0", code)
	}
	// Wait returned once the tee closed its output (the test's), so it
	// has written all it read.
	b, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "poold stopped") || strings.Contains(string(b), "(tee ") {
		t.Fatalf("the wrapper's log lacks poold's last lines, or names its tee among what poold stopped:\n%s", b)
	}
}
