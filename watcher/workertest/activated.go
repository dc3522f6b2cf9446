package workertest

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// ListenerFile opens a loopback listener for t, and a file for it to pass
// to a worker that keeps it non-blocking, as poold does (l.File's would
// not: exec makes a blocking socket of it, for every process sharing it,
// and a Go worker's Accept then waits in the kernel, where closing its
// listener waits for the next connection). Both close with t.
func ListenerFile(t testing.TB) (net.Listener, *os.File) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	rc, err := l.(*net.TCPListener).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	fd := -1
	if err := rc.Control(func(s uintptr) { fd, err = syscall.Dup(int(s)) }); err != nil {
		t.Fatal(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	syscall.CloseOnExec(fd)
	f := os.NewFile(uintptr(fd), "listener")
	t.Cleanup(func() { f.Close() })
	return l, f
}

// StartActivated starts the test binary as a worker with env added and
// socks as its passed sockets, as poold passes them (fds 3 on,
// LISTEN_FDS, and LISTEN_PID its own pid, set by the shell it replaces),
// and returns once its first line of output contains want; Wait reads
// the rest. It is killed with t if it is still running.
func StartActivated(t testing.TB, env []string, want string, socks ...*os.File) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", `LISTEN_PID=$$ exec "$0"`, os.Args[0])
	cmd.Env = append(append(os.Environ(), "LISTEN_FDS="+strconv.Itoa(len(socks))), env...)
	cmd.ExtraFiles = socks
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if !strings.Contains(line, want) {
		t.Fatalf("worker %d's first line %q (%v), want %q in it", cmd.Process.Pid, line, err, want)
	}
	return cmd
}
