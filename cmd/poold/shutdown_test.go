package main

import (
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// SIGQUIT is a stop request, as it is for circusd (and Ctrl-\ in a
// terminal, or an image's STOPSIGNAL): Go's default for it, a goroutine
// dump and exit 2, killed every worker mid-request through the
// parent-death signal.
func TestSIGQUITStopsGracefully(t *testing.T) {
	p := startPoold(t, `
[arbiter]
ENDPOINTS
[sockets.web]
port = 0
[watchers.web]
cmd = @WORKER@
sockets = ["web"]
env = ["POOLD_TEST_WORKER=serve"]
`)
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
