package handover

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/poold/poold/watcher/proctest"
)

// addrOf is the address a listener file is bound to.
func addrOf(t testing.TB, f *os.File) string {
	t.Helper()
	sa, err := syscall.Getsockname(int(f.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	in4, ok := sa.(*syscall.SockaddrInet4)
	if !ok {
		t.Fatalf("listener bound to %T, want IPv4", sa)
	}
	return net.JoinHostPort(net.IP(in4.Addr[:]).String(), strconv.Itoa(in4.Port))
}

// A blocking worker under load is never asleep in accept: a connection
// always waits when it comes back for one. One that holds a connection
// it accepted from its socket (here, busy reading its stdin, as a sync
// worker handles a request) takes connections: Look says so, where it
// used to say busy until readiness spawn's 10 s bound.
func TestLookSeesAWorkerServingAConnection(t *testing.T) {
	w := startWorker(t, "serving")
	w.goOn(t)
	c, err := net.Dial("tcp", addrOf(t, w.lis))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	w.expect(t, "serving")
	if s, err := Look(w.cmd.Process.Pid, w.socks); s != Listening || err != nil {
		t.Fatalf("Look = %v, %v; want listening (it holds a connection it accepted)", s, err)
	}
}

// A worker's own outgoing connection (to a database, say) is not one it
// accepted: Look still says busy.
func TestLookIgnoresAWorkersOutgoingConnection(t *testing.T) {
	other := proctest.ListenerFile(t)
	_, port, _ := net.SplitHostPort(addrOf(t, other))
	w := startWorker(t, "outgoing", port)
	w.goOn(t)
	w.expect(t, "connected")
	if s, err := Look(w.cmd.Process.Pid, w.socks); s != Busy || err != nil {
		t.Fatalf("Look = %v, %v; want busy (its only connection is one it made)", s, err)
	}
}

// The same for a unix socket (gunicorn behind nginx): the accepted
// connection shows its listener's path in /proc/PID/net/unix.
func TestLookSeesAWorkerServingAUnixConnection(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	f, err := l.(*net.UnixListener).File()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	w := startWorkerOn(t, f, "serving")
	w.goOn(t)
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	w.expect(t, "serving")
	if s, err := Look(w.cmd.Process.Pid, w.socks); s != Listening || err != nil {
		t.Fatalf("Look = %v, %v; want listening (it holds a unix connection it accepted)", s, err)
	}
}
