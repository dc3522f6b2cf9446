package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/poold/poold/watcher/proctest"
)

// heldWrapper is a "new binary" whose --upgrade-check waits until FIFO is
// written to, keeping its upgrade in flight, then is the real poold.
const heldWrapper = `#!/bin/sh
case "$1" in --upgrade-check) read x < FIFO;; esac
exec REAL "$@"
`

// A `poolctl upgrade` asked while another upgrade is in flight (SIGUSR2,
// another poolctl) waits for that one's outcome and reports it: before,
// it exited 1 ("already in flight") and a deploy script failed although
// the upgrade it asked for was about to succeed.
func TestUpgradeWhileAnotherIsInFlightWaitsForIt(t *testing.T) {
	t.Parallel()
	p := startPoold(t)
	exe, fifo := filepath.Join(p.dir, "poold"), filepath.Join(p.dir, "go")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	copyFile(t, filepath.Join(binaries(t), "poold"), exe)
	p.stop(t)
	p.launch(t, exe, p.cmd.Args[1])
	// Written beside, renamed over: as a package install does.
	w := strings.NewReplacer("REAL", filepath.Join(binaries(t), "poold"), "FIFO", fifo).Replace(heldWrapper)
	if err := os.WriteFile(exe+".new", []byte(w), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(exe+".new", exe); err != nil {
		t.Fatal(err)
	}

	type outcome struct {
		code   int
		stdout string
	}
	// poolctl runs as a process of its own: its connections cut by the
	// exec are not this test's goroutines.
	first, second := make(chan outcome, 1), make(chan outcome, 1)
	upgrade := func(into chan<- outcome, stderr *syncBuffer) {
		out := &syncBuffer{}
		cmd := exec.Command(filepath.Join(binaries(t), "poolctl"), "--endpoint", p.control, "upgrade")
		cmd.Stdout, cmd.Stderr = out, stderr
		err := cmd.Run()
		code := 0
		if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			code = -1
		}
		into <- outcome{code, out.String()}
	}
	go upgrade(first, &syncBuffer{})
	proctest.Eventually(t, "the first upgrade in flight", func() bool {
		return strings.Contains(p.ctl(t, "upgrade", "--status").stdout, "upgrading since")
	})
	stderr := &syncBuffer{}
	go upgrade(second, stderr)
	var early *outcome
	proctest.Eventually(t, "the second poolctl to wait for the first upgrade", func() bool {
		select {
		case o := <-second:
			early = &o
			return true
		default:
			return strings.Contains(stderr.String(), "waiting for its outcome")
		}
	})
	if early != nil {
		t.Fatalf("the second poolctl upgrade ended while the first was in flight: exit %d\nstderr: %s", early.code, stderr.String())
	}
	f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("go\n")
	f.Close()
	for i, c := range []chan outcome{first, second} {
		if o := <-c; o.code != 0 || !strings.Contains(o.stdout, "upgraded: poold") {
			t.Errorf("poolctl upgrade %d: exit %d, stdout %q; want 0 and the outcome", i+1, o.code, o.stdout)
		}
	}
}
