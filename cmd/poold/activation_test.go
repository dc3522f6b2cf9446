package main

import (
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/poold/poold/watcher/proctest"
)

const activationConfig = `
[arbiter]
ENDPOINTS

[sockets.web]
host = "127.0.0.1"
port = %d

[watchers.web]
cmd = @WORKER@
numprocesses = 1
sockets = ["web"]
env = ["POOLD_TEST_WORKER=serve"]
graceful_timeout = "5s"
`

// Under systemd socket activation (systemd-socket-activate -l ADDR
// --fdname=web poold CONFIG, or a .socket unit) poold is passed its
// socket at fd 3. It used to ignore it and bind the address itself,
// failing with "address already in use" (blamed on one of its own
// endpoints) while the clients of the passed socket waited unanswered.
// Now the workers serve the very socket systemd passed, across an
// upgrade too.
func TestSocketActivationServesThePassedSocket(t *testing.T) {
	t.Parallel()
	f, ln := passedListener(t)
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	// systemd's Backlog=, which listsockets reports for a passed socket
	// rather than the config's backlog it does not apply.
	const backlog = 77
	if err := syscall.Listen(int(f.Fd()), backlog); err != nil {
		t.Fatal(err)
	}
	passed := fmt.Sprintf("\n3 socket:[%d]\n", st.Ino)
	addr := ln.Addr().String()

	p := newUpProc(t, "", fmt.Sprintf(activationConfig, ln.Addr().(*net.TCPAddr).Port))
	p.passed = []*os.File{f}
	p.install(pooldBinary(t))
	p.start("LISTEN_FDS=1", "LISTEN_FDNAMES=web")
	f.Close() // poold's copy is the only one now

	servesPassed := func(when string) {
		t.Helper()
		var body string
		var err error
		proctest.Eventually(t, "a worker serving on "+addr+" "+when, func() bool {
			body, err = get("http://" + addr + "/fds")
			return err == nil
		})
		if !strings.Contains(body, passed) {
			t.Errorf("%s: the worker's fds are\n%s\nwant fd 3 to be the passed socket (%s)", when, body, strings.TrimSpace(passed))
		}
	}
	servesPassed("at start")
	socks, _ := p.do("listsockets", nil)["sockets"].([]any)
	if len(socks) != 1 || fmt.Sprint(socks[0].(map[string]any)["backlog"]) != fmt.Sprint(backlog) {
		t.Errorf("listsockets: %v, want the passed socket's backlog %d", socks, backlog)
	}
	if o, refused := p.upgrade(); refused != nil || o["state"] != "upgraded" {
		t.Fatalf("upgrade: %v %v", o, refused)
	}
	servesPassed("after an upgrade")
	if !strings.Contains(p.log.String(), "socket taken from the service manager: socket=web address="+addr) {
		t.Errorf("the log does not say the socket was taken from the service manager")
	}
	// r56 systemd review, finding 5: at the stop the log said new
	// connections are refused; systemd keeps a passed socket, so they
	// wait for poold's next start.
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	const closed = "socket closed: poold is stopping; the service manager keeps the socket it passed, so new connections wait for poold's next start"
	proctest.Eventually(t, "the passed socket's close logged", func() bool { return strings.Contains(p.log.String(), closed) })
}

// passedListener is a listening tcp socket on loopback as a service
// manager would pass it: its file (closed when the test ends) and the
// listener it came from, closed already, for its address.
func passedListener(t *testing.T) (*os.File, net.Listener) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f, err := ln.(*net.TCPListener).File()
	ln.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, ln
}

// r56 systemd review, finding 4: sockets passed with a LISTEN_PID of
// another process (ExecStart= runs a wrapper that forks poold) were
// ignored without a word while poold held them open: their clients
// waited, unanswered. poold now says so, naming LISTEN_PID, its own pid
// and what to do, and closes them.
func TestSocketActivationForAnotherPid(t *testing.T) {
	t.Parallel()
	f, ln := passedListener(t)
	addr := ln.Addr().String()
	_, port, _ := net.SplitHostPort(freeAddr(t))
	p := newUpProc(t, "", strings.Replace(activationConfig, "%d", port, 1))
	p.passed = []*os.File{f}
	p.wrap = "export LISTEN_PID=1; "
	p.install(pooldBinary(t))
	p.start("LISTEN_FDS=1", "LISTEN_FDNAMES=web")
	f.Close() // poold's copy is the only one now
	const want = "LISTEN_PID names another process, not poold (a wrapper that forked poold?); run poold from the wrapper with exec"
	proctest.Eventually(t, "a warning", func() bool { return strings.Contains(p.log.String(), want) })
	line := p.log.String()
	line = line[strings.Index(line, want):]
	line, _, _ = strings.Cut(line, "\n")
	for _, kv := range []string{"listen_pid=1", fmt.Sprintf("pid=%d", p.cmd.Process.Pid), addr} {
		if !strings.Contains(line, kv) {
			t.Errorf("the warning %q does not say %s", line, kv)
		}
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Errorf("%s takes connections: poold holds the socket meant for another process, serving no one", addr)
	}
}
