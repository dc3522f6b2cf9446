package main

import (
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/poold/poold/watcher/proctest"
)

// SIGQUIT is a stop request, as it is for circusd (and Ctrl-\ in a
// terminal, or an image's STOPSIGNAL): Go's default for it, a goroutine
// dump and exit 2, killed every worker mid-request through the
// parent-death signal.
func TestSIGQUITStopsGracefully(t *testing.T) {
	p := startPoold(t, serveConfig)
	pid, _ := strconv.Atoi(p.waitLog(`worker (\d+) serving`, 1)[0][1])
	p.signal(syscall.SIGQUIT)
	if code := p.wait(); code != 0 {
		t.Fatalf("exit code %d after SIGQUIT, want 0", code)
	}
	log := p.log.String()
	if !strings.Contains(log, "stopping gracefully") {
		t.Errorf("no 'stopping gracefully' in the log after SIGQUIT")
	}
	if !strings.Contains(log, "poold stopped") {
		t.Errorf("no 'poold stopped' in the log after SIGQUIT")
	}
	if exists(pid) {
		t.Errorf("worker %d still exists after poold exited", pid)
	}
}

// holdStart names a FIFO that poold's start-up (the test binary playing
// poold) reads to its end before it reads its config (startHold).
const holdStart = "POOLD_TEST_HOLD_START"

// holdOn reads the FIFO at path until its writer closes it.
func holdOn(path string) {
	if f, err := os.Open(path); err == nil {
		_, _ = io.Copy(io.Discard, f)
		f.Close()
	}
}

// startHeld starts poold on config and holds it in its start-up, its
// signals caught, before it reads the config, until release is called.
// It returns once poold waits there.
func startHeld(t *testing.T, config string) (p *proc, release func()) {
	t.Helper()
	dir := t.TempDir()
	path := writeConfig(t, dir, config)
	hold := filepath.Join(dir, "hold")
	if err := syscall.Mkfifo(hold, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(holdStart, hold)
	p = launchPoold(t, nil, dir, path, nil)
	var w *os.File
	var err error
	// A FIFO opens for writing without blocking only once it has a reader.
	proctest.Eventually(t, "poold waits in its start-up", func() bool {
		w, err = os.OpenFile(hold, os.O_WRONLY|syscall.O_NONBLOCK, 0)
		return err == nil
	})
	t.Cleanup(func() { w.Close() })
	return p, func() { w.Close() }
}

// serveConfig: one worker serving on a shared socket.
const serveConfig = `
[arbiter]
ENDPOINTS
[sockets.web]
port = 0
[watchers.web]
cmd = @WORKER@
sockets = ["web"]
env = ["POOLD_TEST_WORKER=serve"]
`

// A SIGHUP while poold starts (reading its config here; checking
// watchers and binding endpoints take seconds on a busy host) ended
// poold, exit by signal, before it could catch it: a deploy tool or
// logrotate that sends SIGHUP right after a start killed it. It is
// acted on once poold serves: a reload.
func TestSIGHUPDuringStartupReloads(t *testing.T) {
	p, release := startHeld(t, serveConfig)
	p.signal(syscall.SIGHUP)
	release()
	p.waitLog(`worker (\d+) serving`, 1)
	p.waitLog(`SIGHUP: reloading config`, 1)
	p.waitLog(`config reloaded`, 1)
	p.signal(syscall.SIGTERM)
	if code := p.wait(); code != 0 {
		t.Fatalf("exit code %d (%v), want 0", code, p.err)
	}
}

// A SIGTERM while poold starts stops it as one that serves: exit 0.
func TestSIGTERMDuringStartupExitsZero(t *testing.T) {
	p, release := startHeld(t, serveConfig)
	p.signal(syscall.SIGTERM)
	release()
	if code := p.wait(); code != 0 {
		t.Fatalf("exit code %d (%v), want 0", code, p.err)
	}
	if !strings.Contains(p.log.String(), "stopping gracefully") {
		t.Errorf("no 'stopping gracefully' in the log")
	}
}
