package handover

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/watcher/proctest"
)

// invisible is a Python server that holds the socket at fd 3 and waits
// in a way /proc cannot tie to it (an epoll set of a pipe), as a server
// on io_uring, or one that bound another socket, would.
const invisible = `import os, select, socket; s = socket.socket(fileno=3); r, w = os.pipe(); ep = select.epoll(); ep.register(r, select.EPOLLIN); ep.poll()`

// A wrapper script that runs a setup script of its own shell before it
// execs the server (`sh -c 'sh setup.sh; exec app'`): the setup's shell
// held the inherited socket while it ran the program of its parent, and
// was reaped. It was counted as a master's worker lost before any
// waited, so a server /proc cannot see waiting was held to ctx's end
// (ready_timeout) and failed its readiness there, instead of counting
// as ready at the soft bound: the shell that had it exec'd the server
// since, and is no master.
func TestWaitGivesUpOnAServerAfterItsWrappersSetupAtTheSoftBound(t *testing.T) {
	py := proctest.Tool(t, "/usr/bin/python3", "python3")
	f := proctest.ListenerFile(t)
	socks, err := InodesOf([]*os.File{f})
	if err != nil {
		t.Fatal(err)
	}
	// The setup shell runs 1 s (two commands: it forks sleep and waits).
	pid := startReaped(t, exec.Command("/bin/sh", "-c", `/bin/sh -c 'sleep 1; :'; exec "$0" -c "$1"`, py, invisible), f)
	proctest.Eventually(t, "the wrapper's setup shell", func() bool {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
		return err == nil && len(strings.TrimSpace(string(b))) > 0
	})
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	t0 := time.Now()
	s, err := Wait(ctx, pid, socks, 2*time.Second)
	if !errors.Is(err, ErrNotSeen) || ctx.Err() != nil {
		t.Fatalf("Wait = %v, %v after %v (ctx ended: %v); want ErrNotSeen at the soft bound", s, err, time.Since(t0), ctx.Err() != nil)
	}
	t.Logf("after %v: %v", time.Since(t0), err)
}
