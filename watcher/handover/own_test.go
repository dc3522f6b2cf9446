package handover

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/watcher/proctest"
)

// ownServer inherits a listening socket at fd 3 and ignores it: it binds
// 127.0.0.1 on a port of its own, says "listening PORT" and waits on that
// socket, in epoll (a Go server, uvicorn) or in select (gunicorn's sync
// worker), as gunicorn does when LISTEN_PID is not its pid.
const ownServer = `
import select, socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen()
print("listening", s.getsockname()[1], flush=True)
if sys.argv[1] == "select":
    select.select([s], [], [])
ep = select.epoll(); ep.register(s.fileno(), select.EPOLLIN); ep.poll()
`

// startOwnServer runs sh -c script with ownServer's path as $0, its
// source as $1 and mode as $2, on an inherited socket, and returns the
// shell's process, the socket's inode and the port the server bound.
func startOwnServer(t *testing.T, script, mode string) (*exec.Cmd, Inodes, string) {
	t.Helper()
	py := proctest.Tool(t, "python3", "python3")
	f := proctest.ListenerFile(t)
	socks, err := InodesOf([]*os.File{f})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/sh", "-c", script, py, ownServer, mode)
	cmd.ExtraFiles = []*os.File{f}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	port, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
	if err != nil || !ok {
		t.Fatalf("server said %q (%v), want listening PORT", line, err)
	}
	return cmd, socks, port
}

// The shell scripts that start ownServer: with the systemd variables
// poold sets (LISTEN_PID is the pid poold started), by exec, or behind a
// wrapper that does not exec it.
const (
	execd   = `export LISTEN_FDS=1 LISTEN_PID=$$; exec "$0" -c "$1" "$2"`
	wrapped = `export LISTEN_FDS=1 LISTEN_PID=$$; "$0" -c "$1" "$2"; echo ended`
)

// A worker that never waits on its inherited sockets but listens on one
// of its own took none of them: Wait says so once ctx ends, naming the
// process and its address (and, for a server a wrapper started without
// exec, that LISTEN_PID is why), rather than ErrNotSeen, which poold
// counts as ready. A server asleep in select behind a wrapper, which
// holds the inherited socket but was given a LISTEN_PID not its own
// (gunicorn's sync worker), is not taken for one waiting on it.
func TestWaitNamesAWorkerThatListensOnItsOwnSocket(t *testing.T) {
	for _, tc := range []struct {
		name, script, mode string
		want               []string
	}{
		{"itself", execd, "epoll", []string{"does not take LISTEN_FDS"}},
		{"behind a wrapper", wrapped, "epoll", []string{"started by the worker pid", "(sh)", "exec the server from the wrapper (exec python3"}},
		{"in select behind a wrapper", wrapped, "select", []string{"started by the worker pid", "(sh)", "exec the server from the wrapper (exec python3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd, socks, port := startOwnServer(t, tc.script, tc.mode)
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			s, err := Wait(ctx, cmd.Process.Pid, socks)
			if !errors.Is(err, ErrOwnListener) {
				t.Fatalf("Wait = %v, %v; want ErrOwnListener", s, err)
			}
			for _, w := range append(tc.want, "127.0.0.1:"+port, "(python3") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// A server asleep in select that holds the inherited socket and a
// listener of its own, with LISTEN_PID its own pid, may be waiting on
// both (an admin port): that stays a guess, Opaque, as before.
func TestWaitStillGuessesForAServerInSelectWithItsOwnLISTEN_PID(t *testing.T) {
	cmd, socks, _ := startOwnServer(t, execd, "select")
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	if s, err := Wait(ctx, cmd.Process.Pid, socks); s != Opaque || err != nil {
		t.Fatalf("Wait = %v, %v; want %v", s, err, Opaque)
	}
}
