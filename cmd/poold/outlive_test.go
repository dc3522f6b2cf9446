package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/poold/poold/watcher/proctest"
)

// The line poold logs once it has outlived its terminal's hangup.
const outlivedLine = "the terminal hung up and poold runs on without it"

// A poold that outlived its terminal's hangup with no SIGHUP (the shell
// it was started in as a job had exited, so nobody passed one on) took
// every later kill -HUP, a reload, for the hangup: it stopped with every
// worker, its terminal being hung up still. It forgets the terminal once
// the hangup passed with no SIGHUP, and reloads.
func TestSIGHUPReloadsAfterAHangupPooldOutlived(t *testing.T) {
	// A job of the shell, which exits: bash passes no SIGHUP on then.
	master, pid, worker, log := pooldTypedOnPty(t, "%s %s >%s 2>&1 &\n")
	defer stopOutlived(t, pid, worker)
	shell, _ := strconv.Atoi(parentOf(pid))
	if _, err := fmt.Fprintf(master, "exit\n"); err != nil {
		t.Fatal(err)
	}
	// The window closes once the shell has exited: closed before, it
	// would be a hangup the shell passes on.
	proctest.Eventually(t, "the shell exited", func() bool { s := procState(shell); return s == "" || s == "Z" })
	master.Close()
	reloadsAfterTheHangup(t, pid, log)
}

// The same with a poold in a session of its own (setsid), its stdin on
// the terminal: the hangup sends it no SIGHUP at all.
func TestSIGHUPReloadsAfterAHangupOfSetsidPoold(t *testing.T) {
	master, slave := openHangablePty(t)
	drainPty(t, master)
	tty, err := os.OpenFile(slave, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	dir := t.TempDir()
	cfg := writeConfig(t, dir, serveConfig)
	logFile := filepath.Join(dir, "poold.log")
	out, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command(pooldBinary(t), cfg)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-done })
	log := func() string { b, _ := os.ReadFile(logFile); return string(b) }
	pid, worker := pooldAndWorker(t, log)
	defer stopOutlived(t, pid, worker)
	tty.Close()
	master.Close()
	reloadsAfterTheHangup(t, pid, log)
}

// reloadsAfterTheHangup waits until poold pid has outlived its
// terminal's hangup, then sends it SIGHUP, which must reload it.
func reloadsAfterTheHangup(t *testing.T, pid int, log func() string) {
	t.Helper()
	defer func() {
		if t.Failed() {
			t.Logf("poold log:\n%s", log())
		}
	}()
	proctest.Eventually(t, "poold outlived the hangup", func() bool { return strings.Contains(log(), outlivedLine) })
	if s := procState(pid); s == "Z" || s == "" || strings.Contains(log(), "poold stopped") {
		t.Fatalf("poold ended as its terminal hung up:\n%s", log())
	}
	syscall.Kill(pid, syscall.SIGHUP)
	proctest.Eventually(t, "the reload done", func() bool { return strings.Contains(log(), "config reloaded") })
	if strings.Contains(log(), "the terminal hung up: stopping") || strings.Contains(log(), "poold stopped") {
		t.Fatalf("a SIGHUP after the hangup poold outlived stopped it:\n%s", log())
	}
	if n := strings.Count(log(), outlivedLine); n != 1 {
		t.Errorf("%d lines say poold outlived the hangup, want 1:\n%s", n, log())
	}
}

// stopOutlived stops poold pid, which has no parent here to wait for
// it, and waits for its worker to end.
func stopOutlived(t *testing.T, pid, worker int) {
	syscall.Kill(pid, syscall.SIGTERM)
	waitGone(t, worker)
	proctest.Eventually(t, "poold gone", func() bool { s := procState(pid); return s == "" || s == "Z" })
}

// A poold started under nohup outlived its terminal only until its
// first in-place upgrade: the new image, exec'd with SIGHUP ignored by
// the old one for the exec, could not tell nohup's from that, took
// SIGHUP as not ignored, and stopped on the hangup.
func TestNohupPooldOutlivesItsTerminalAfterAnUpgrade(t *testing.T) {
	master, pid, worker, log := pooldTypedOnPty(t, "nohup %s %s >/dev/null 2>%s &\n")
	defer stopOutlived(t, pid, worker)
	syscall.Kill(pid, syscall.SIGUSR2)
	proctest.Eventually(t, "the upgrade done", func() bool { return strings.Contains(log(), "upgrade: took over") })
	master.Close()
	proctest.Eventually(t, "the shell's SIGHUP reloads poold", func() bool {
		return strings.Contains(log(), "config reloaded") || strings.Contains(log(), "poold stopped")
	})
	if s := procState(pid); s == "Z" || s == "" || strings.Contains(log(), "the terminal hung up") {
		t.Fatalf("poold under nohup ended as its terminal hung up after an upgrade:\n%s", log())
	}
}
