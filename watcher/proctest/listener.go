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
