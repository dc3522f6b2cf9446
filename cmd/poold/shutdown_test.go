package main

import (
	"os"
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

// startOnFIFO starts poold on a config file that is a FIFO, so that it
// stays in its start-up, reading the file, until feed writes config to it
// (once per read). It returns once poold opened the FIFO to read it.
func startOnFIFO(t *testing.T, config string) (p *proc, feed func()) {
	t.Helper()
	dir := t.TempDir()
	path := writeConfig(t, dir, config)
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	p = launchPoold(t, nil, dir, path, nil)
	var w *os.File
	// A FIFO opens for writing without blocking only once it has a reader.
	proctest.Eventually(t, "poold opens its config to read it", func() bool {
		w, err = os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0)
		return err == nil
	})
	feed = func() {
		t.Helper()
		if w == nil {
			if w, err = os.OpenFile(path, os.O_WRONLY, 0); err != nil { // waits for a reader
				t.Fatal(err)
			}
		}
		if _, err := w.Write(text); err != nil {
			t.Fatal(err)
		}
		w.Close()
		w = nil
	}
	t.Cleanup(func() {
		if w != nil {
			w.Close()
		}
	})
	return p, feed
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
	p, feed := startOnFIFO(t, serveConfig)
	p.signal(syscall.SIGHUP)
	feed()
	p.waitLog(`worker (\d+) serving`, 1)
	p.waitLog(`SIGHUP: reloading config`, 1)
	feed() // the reload reads the file again
	p.waitLog(`config reloaded`, 1)
	p.signal(syscall.SIGTERM)
	if code := p.wait(); code != 0 {
		t.Fatalf("exit code %d (%v), want 0", code, p.err)
	}
}

// A SIGTERM while poold starts stops it as one that serves: exit 0.
func TestSIGTERMDuringStartupExitsZero(t *testing.T) {
	p, feed := startOnFIFO(t, serveConfig)
	p.signal(syscall.SIGTERM)
	feed()
	if code := p.wait(); code != 0 {
		t.Fatalf("exit code %d (%v), want 0", code, p.err)
	}
	if !strings.Contains(p.log.String(), "stopping gracefully") {
		t.Errorf("no 'stopping gracefully' in the log")
	}
}
