package proctest

import (
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"
)

// ListenerFile opens a TCP listener on a free loopback port and returns
// a file for it, to hand to a worker as an inherited socket. Both are
// closed when the test ends.
func ListenerFile(t testing.TB) *os.File {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	f, err := l.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// FreePort returns a loopback TCP port nobody listened on a moment ago,
// for a process the test starts to bind. Another process may take it
// meanwhile: the bind then fails loudly, never silently.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Reserved is a loopback TCP port bound but not listening: a connection
// to it is refused, and no other socket can take the port, as one freed
// by FreePort can be until it is bound again (a test that closed its
// probe listener saw poold's own socket bound to that port). Listen
// makes it accept; the socket is closed when the test ends.
type Reserved struct {
	fd   int
	Addr string // "127.0.0.1:PORT"
}

// ReservePort binds a loopback TCP socket to a free port without
// listening on it.
func ReservePort(t testing.TB) *Reserved {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return &Reserved{fd: fd, Addr: fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)}
}

// Listen starts accepting on r's port (connections then complete in the
// kernel's backlog; nobody needs to accept them).
func (r *Reserved) Listen(t testing.TB) {
	t.Helper()
	if err := syscall.Listen(r.fd, 16); err != nil {
		t.Fatal(err)
	}
}
