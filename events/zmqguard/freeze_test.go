package zmqguard_test

import (
	"context"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-zeromq/zmq4"
	"golang.org/x/sys/unix"

	"github.com/poold/poold/events/zmqguard"
	"github.com/poold/poold/events/zmqguard/zmtptest"
	"github.com/poold/poold/watcher/proctest"
)

// newRouter is a zmq4 ROUTER listening on tcp through g.
func newRouter(t *testing.T, g *zmqguard.Guard, ep string) zmq4.Socket {
	t.Helper()
	r := zmq4.NewRouter(context.Background(), zmq4.WithLogger(quietLog()))
	gep, err := g.Endpoint(ep)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Listen(gep); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// dealer is a raw ZMTP DEALER peer of addr, handshaken.
func dealer(t *testing.T, addr string) *zmtptest.Peer {
	t.Helper()
	p, err := zmtptest.Dial("tcp", addr, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	if err := p.Handshake("DEALER", ""); err != nil {
		t.Fatal(err)
	}
	return p
}

// recvFrom reads one message from r (within hang) and checks its body.
func recvFrom(t *testing.T, r zmq4.Socket, want string) (identity []byte) {
	t.Helper()
	got := make(chan zmq4.Msg, 1)
	errc := make(chan error, 1)
	go func() {
		m, err := r.Recv()
		if err != nil {
			errc <- err
			return
		}
		got <- m
	}()
	select {
	case m := <-got:
		if len(m.Frames) != 2 || string(m.Frames[1]) != want {
			t.Fatalf("ROUTER got %q, want [identity %q]", m.Frames, want)
		}
		return m.Frames[0]
	case err := <-errc:
		t.Fatalf("ROUTER recv: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatalf("ROUTER got nothing, want %q", want)
	}
	return nil
}

func cloexec(t *testing.T, fd int) (bool, error) {
	t.Helper()
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	return flags&unix.FD_CLOEXEC != 0, err
}

// Freeze stops each connection at a message boundary; one in the middle
// of a message reads on to its end first. HandOff lists only those
// stopped, each with a dup of its fd that survives an exec; Seal shuts
// down one no longer stopped (its peer sees it close); Cancel closes the
// dups.
func TestFreezeHandOffSealCancel(t *testing.T) {
	addr := freePort(t)
	g := zmqguard.New(zmqguard.Options{})
	r := newRouter(t, g, "tcp://"+addr)
	a, b := dealer(t, addr), dealer(t, addr)
	if err := a.Send([]byte("a1")); err != nil {
		t.Fatal(err)
	}
	recvFrom(t, r, "a1")
	half := zmtptest.Frame(0, []byte("b1"))
	read := g.LastRead()
	if _, err := b.Conn.Write(half[:2]); err != nil { // flags and size, no body
		t.Fatal(err)
	}
	proctest.Eventually(t, "b's first bytes read", func() bool { return g.LastRead().After(read) })
	thaw := g.Freeze()
	defer thaw()
	proctest.Eventually(t, "a parked, b in the middle of a message", func() bool { return g.Unparked() == 1 })
	if g.Parked() {
		t.Errorf("Parked() with b in the middle of a message")
	}
	h := g.HandOff()
	if len(h.Conns) != 1 || h.Left != 0 {
		t.Fatalf("HandOff: %d conns, %d left, want a only", len(h.Conns), h.Left)
	}
	hc := h.Conns[0]
	if hc.Key != "tcp "+addr || len(hc.Handshake) == 0 || hc.FD < 3 {
		t.Errorf("handed %+v, want key %q, a handshake, an fd > 2", hc, "tcp "+addr)
	}
	if ce, err := cloexec(t, hc.FD); err != nil || ce {
		t.Errorf("the handed fd %d: close-on-exec %v, %v; want it kept across the exec", hc.FD, ce, err)
	}
	if _, err := b.Conn.Write(half[2:]); err != nil { // b's message ends: b stops after it
		t.Fatal(err)
	}
	recvFrom(t, r, "b1")
	proctest.Eventually(t, "every conn parked", g.Parked)
	thaw() // the exec did not happen: a reads again, no longer parked
	if n := g.Unparked(); n != 0 {
		t.Errorf("Unparked() = %d after thaw, want 0 (nothing is waited for)", n)
	}
	if err := a.Send([]byte("a2")); err != nil {
		t.Fatal(err)
	}
	recvFrom(t, r, "a2") // a reads again: no longer parked
	h.Seal()
	if !a.WaitClosed(10 * time.Second) {
		t.Errorf("a, handed over but no longer stopped at the exec, was not shut down by Seal")
	}
	h.Cancel()
	if _, err := cloexec(t, hc.FD); err == nil {
		t.Errorf("the dup fd %d is still open after Cancel", hc.FD)
	}
	if err := b.Send([]byte("b2")); err != nil {
		t.Fatal(err)
	}
	recvFrom(t, r, "b2")
}

// handOverListener is what the exec gives the next image of a listening
// fd: another fd of the same socket.
func handOverListener(t *testing.T, fd int) net.Listener {
	t.Helper()
	dup, err := syscall.Dup(fd)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(dup), "handed-over")
	defer f.Close()
	ln, err := net.FileListener(f)
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// A connection handed over (HandOff, then InheritConn in the next image)
// goes on as it was: what its peer sent after the freeze is read by the
// next image's socket, whose reply reaches the peer with no second
// greeting or READY in front of it.
func TestInheritConnResumesTheConnection(t *testing.T) {
	addr := freePort(t)
	g1 := zmqguard.New(zmqguard.Options{})
	r1 := newRouter(t, g1, "tcp://"+addr)
	a := dealer(t, addr)
	if err := a.Send([]byte("before")); err != nil {
		t.Fatal(err)
	}
	recvFrom(t, r1, "before")
	thaw := g1.Freeze()
	defer thaw()
	proctest.Eventually(t, "a parked", g1.Parked)
	if err := a.Send([]byte("after")); err != nil { // waits in the socket
		t.Fatal(err)
	}
	h := g1.HandOff()
	if len(h.Conns) != 1 {
		t.Fatalf("HandOff: %d conns, want 1", len(h.Conns))
	}
	lfd, ok := zmqguard.Listening()["tcp "+addr]
	if !ok {
		t.Fatalf("Listening() has no tcp %s", addr)
	}
	zmqguard.Inherit("tcp", addr, handOverListener(t, lfd))
	hc := h.Conns[0]
	if err := zmqguard.InheritConn("tcp", addr, hc.FD, hc.Handshake); err != nil {
		t.Fatal(err)
	}
	g2 := zmqguard.New(zmqguard.Options{})
	r2 := newRouter(t, g2, "tcp://"+addr)
	id := recvFrom(t, r2, "after")
	if err := r2.Send(zmq4.NewMsgFrom(id, []byte("reply"))); err != nil {
		t.Fatal(err)
	}
	_ = a.Conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	msg, err := a.Recv()
	if err != nil || len(msg) != 1 || string(msg[0]) != "reply" {
		t.Fatalf("the peer got %q, %v; want [reply] (and no greeting again)", msg, err)
	}
}

// A handshake saved with the connection that is not a greeting and a
// READY is refused, and the fd closed.
func TestInheritConnRefusesABadHandshake(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[1])
	err = zmqguard.InheritConn("tcp", "127.0.0.1:1", fds[0], []byte("not zmtp"))
	if err == nil || !strings.Contains(err.Error(), "not a greeting and a READY") {
		t.Errorf("InheritConn with a bad handshake: %v", err)
	}
	if _, err := cloexec(t, fds[0]); err == nil {
		t.Errorf("fd %d still open after a refused InheritConn", fds[0])
	}
}

// freePort is a loopback address free a moment ago: a listener's key
// (Listening, HandOff) names the address as given to Listen.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Short of fds, HandOff hands over none (or fewer) and says why, rather
// than take the last fds the hand-over needs (the state's memfd: the
// upgrade was refused with "too many open files"). Here every fd is
// taken by the reserve.
func TestHandOffShortOfFDs(t *testing.T) {
	addr := freePort(t)
	g := zmqguard.New(zmqguard.Options{})
	r := newRouter(t, g, "tcp://"+addr)
	for _, p := range []*zmtptest.Peer{dealer(t, addr), dealer(t, addr)} {
		if err := p.Send([]byte("hello")); err != nil {
			t.Fatal(err)
		}
		recvFrom(t, r, "hello")
	}
	thaw := g.Freeze()
	defer thaw()
	proctest.Eventually(t, "both parked", g.Parked)
	defer func(n int) { zmqguard.HandOffReserve = n }(zmqguard.HandOffReserve)
	zmqguard.HandOffReserve = 1 << 20 // more than any RLIMIT_NOFILE here
	h := g.HandOff()
	defer h.Cancel()
	if len(h.Conns) != 0 || h.Left != 2 {
		t.Fatalf("HandOff with no fd free: %d handed, %d left; want 0 and 2", len(h.Conns), h.Left)
	}
	if h.Err == nil || !strings.Contains(h.Err.Error(), "LimitNOFILE") || !strings.Contains(h.Err.Error(), "RLIMIT_NOFILE") {
		t.Errorf("HandOff's error %v: want the cause and what to do (LimitNOFILE)", h.Err)
	}
	zmqguard.HandOffReserve = 16
	if h2 := g.HandOff(); len(h2.Conns) != 2 || h2.Left != 0 {
		t.Errorf("HandOff with fds: %d handed, %d left", len(h2.Conns), h2.Left)
	} else {
		h2.Cancel()
	}
}

// A command frame with the MORE flag (which ZMTP 3 forbids) closes the
// connection: zmq4 would read on into the next frames as one message,
// where the guard counted a whole message (Delivered, which an upgrade
// compares with what the socket took) and saw a boundary.
func TestCommandWithMoreRefused(t *testing.T) {
	addr := freePort(t)
	g := zmqguard.New(zmqguard.Options{})
	newRouter(t, g, "tcp://"+addr)
	p := dealer(t, addr)
	if _, err := p.Conn.Write(append(zmtptest.Frame(0x05, []byte("\x04PING\x00\x00")), zmtptest.Frame(0, []byte("json"))...)); err != nil {
		t.Fatal(err)
	}
	if !p.WaitClosed(10 * time.Second) {
		t.Errorf("a command frame with MORE: connection not closed")
	}
	if d := g.Delivered(); d != 0 {
		t.Errorf("Delivered() = %d after a refused frame, want 0", d)
	}
}
