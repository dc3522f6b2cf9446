package main

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/poold/poold/arbiter/controller/ctlclient"
	"github.com/poold/poold/watcher/proctest"
)

// Defect: workers (their output pipes, pidfds) could take every fd of
// poold's RLIMIT_NOFILE, and then poold could not accept a control
// connection: the operator could not even `poolctl decr`. Now a start
// that would leave fewer than arbiter.FdReserve fds free is refused (the
// slot pauses, naming the limit), and new control connections keep
// working; once a decr frees fds, the slots that waited start by
// themselves.
func TestControlWorksAtTheFdLimit(t *testing.T) {
	p := startPoold(t, `
[arbiter]
ENDPOINTS
[watchers.sleepers]
cmd = "sleep"
args = ["3600"]
numprocesses = 0
flapping_retry_in = "300ms"
graceful_timeout = "5s"
`)
	c := dialControl(t, p)
	call(t, c, "status", nil) // up, and no worker yet
	pid := p.cmd.Process.Pid
	open := openFdsOf(t, pid)
	// Room for about 40 workers of 2 fds (their output pipes) beside
	// poold's reserve; 100 asked.
	limit := uint64(open + 120)
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: limit, Max: limit}, nil); err != nil {
		t.Fatalf("prlimit poold %d: %v", pid, err)
	}
	call(t, c, "incr", map[string]any{"name": "sleepers", "nb": 100})
	var live, refused int
	proctest.Eventually(t, "slots refused for RLIMIT_NOFILE", func() bool {
		live, refused = fdSlots(t, c)
		return refused > 0
	})
	t.Logf("RLIMIT_NOFILE %d (%d open before): %d workers, %d slots refused", limit, open, live, refused)

	// New connections, held at once, as operators, scripts and a
	// dashboard would make: each must be accepted and answered (the
	// reserve has room for them; the few fds workers left free did not).
	var clients []*ctlclient.Client
	for i := range 20 {
		ctx, cancel := context.WithTimeout(context.Background(), normalTimeout)
		cl, err := ctlclient.DialContext(ctx, "ipc://"+p.dir+"/c.sock")
		cancel()
		if err != nil {
			t.Fatalf("control connection %d at the fd limit (%d workers, %d of %d fds open): %v", i, live, openFdsOf(t, pid), limit, err)
		}
		t.Cleanup(func() { cl.Close() })
		clients = append(clients, cl)
		callWithin(t, cl, "list", nil)
	}
	callWithin(t, clients[0], "decr", map[string]any{"name": "sleepers", "nb": 90})
	proctest.Eventually(t, "10 workers after the decr, none refused", func() bool {
		live, refused = fdSlots(t, c)
		return live == 10 && refused == 0
	})
}

// openFdsOf counts the open fds of process pid.
func openFdsOf(t *testing.T, pid int) int {
	t.Helper()
	d, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(d)
}

// fdSlots counts the slots of sleepers that have a worker, and those whose
// last start was refused for poold's fds.
func fdSlots(t *testing.T, c *ctlclient.Client) (live, refused int) {
	t.Helper()
	r := call(t, c, "status", map[string]any{"name": "sleepers"})
	slots, ok := r["slots"].([]any)
	if !ok {
		t.Fatalf("status sleepers: %v", r)
	}
	for _, s := range slots {
		row, _ := s.(map[string]any)
		if pid, _ := row["pid"].(float64); pid > 0 {
			live++
		} else if exit, _ := row["last_exit"].(string); strings.Contains(exit, "RLIMIT_NOFILE") {
			refused++
		}
	}
	return live, refused
}
