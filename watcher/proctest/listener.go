package proctest

import (
	"net"
	"os"
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
