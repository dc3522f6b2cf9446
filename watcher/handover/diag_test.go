package handover

import (
	"net"
	"os"
	"strconv"
	"testing"
)

// timeWaits leaves n loopback connections in TIME_WAIT on the host, as
// a server that closes each connection after its answer does under load.
// The server closes first, so the TIME_WAIT sockets hold no client port.
func timeWaits(tb testing.TB, n int) {
	tb.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	for range n {
		c, err := net.Dial("tcp4", l.Addr().String())
		if err != nil {
			tb.Fatalf("connection %d of %d for TIME_WAIT: %v", n, n, err)
		}
		s, err := l.Accept()
		if err != nil {
			tb.Fatal(err)
		}
		s.Close()
		c.Close()
	}
}

// sockets is a worker's sockets as lookProc sees them: socks it holds,
// and its other sockets.
func sockets(tb testing.TB, w *pyWorker) Inodes {
	tb.Helper()
	held, conns, _, err := fdsOf("/proc/"+strconv.Itoa(w.cmd.Process.Pid), w.socks)
	if err != nil || len(held) == 0 {
		tb.Fatalf("worker %d: holds %v of its sockets (%v)", w.cmd.Process.Pid, held, err)
	}
	return conns
}

// listener6 is a listener on ::1, as a file to hand to a worker, and
// its address.
func listener6(t *testing.T) (*os.File, string) {
	t.Helper()
	l, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Fatalf("a listener on ::1 (the loopback's IPv6 address): %v", err)
	}
	t.Cleanup(func() { l.Close() })
	f, err := l.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, l.Addr().String()
}

// TestDiagAgreesWithProc: servesConn now asks sock_diag instead of
// reading /proc/PID/net/tcp{,6}, which formats every TCP socket of the
// host, TIME_WAIT included (28 ms a read with 17k of them, every 25 ms
// for each starting worker). Both ways must say the same, among many
// TIME_WAIT sockets: a worker serving a connection it accepted (IPv4,
// IPv6), and one whose only connection is one it made.
func TestDiagAgreesWithProc(t *testing.T) {
	timeWaits(t, 2000)
	serving := startWorker(t, "serving")
	serving.goOn(t)
	c, err := net.Dial("tcp", addrOf(t, serving.lis))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	serving.expect(t, "serving")

	f6, addr6 := listener6(t)
	serving6 := startWorkerOn(t, f6, "serving")
	serving6.goOn(t)
	c6, err := net.Dial("tcp6", addr6)
	if err != nil {
		t.Fatal(err)
	}
	defer c6.Close()
	serving6.expect(t, "serving")

	other := startWorker(t, "serving") // never told to go on: a port to connect to
	_, port, _ := net.SplitHostPort(addrOf(t, other.lis))
	outgoing := startWorker(t, "outgoing", port)
	outgoing.goOn(t)
	outgoing.expect(t, "connected")

	for _, tc := range []struct {
		name string
		w    *pyWorker
		want bool
	}{
		{"serving", serving, true},
		{"serving on ::1", serving6, true},
		{"an outgoing connection only", outgoing, false},
	} {
		conns := sockets(t, tc.w)
		dir := "/proc/" + strconv.Itoa(tc.w.cmd.Process.Pid)
		viaDiag, err := servesTCPDiag(dir, tc.w.socks, conns)
		if err != nil {
			t.Fatalf("%s: sock_diag: %v", tc.name, err)
		}
		if viaProc := servesTCPProc(dir, tc.w.socks, conns); viaDiag != tc.want || viaProc != tc.want {
			t.Errorf("%s: sock_diag says %v, /proc says %v; want %v", tc.name, viaDiag, viaProc, tc.want)
		}
	}
}

// BenchmarkServesConn: one look at whether a worker serves a connection,
// on a host with many TIME_WAIT sockets, through sock_diag and /proc.
func BenchmarkServesConn(b *testing.B) {
	timeWaits(b, 10000)
	w := startWorker(b, "serving")
	w.goOn(b)
	c, err := net.Dial("tcp", addrOf(b, w.lis))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	w.expect(b, "serving")
	conns := sockets(b, w)
	dir := "/proc/" + strconv.Itoa(w.cmd.Process.Pid)
	b.Run("sock_diag", func(b *testing.B) {
		for b.Loop() {
			if ok, err := servesTCPDiag(dir, w.socks, conns); !ok || err != nil {
				b.Fatalf("sock_diag: %v, %v", ok, err)
			}
		}
	})
	b.Run("proc", func(b *testing.B) {
		for b.Loop() {
			if !servesTCPProc(dir, w.socks, conns) {
				b.Fatal("/proc: not serving")
			}
		}
	})
}
