package zmqguard_test

import (
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/poold/poold/events/zmqguard"
	"github.com/poold/poold/events/zmqguard/zmtptest"
)

// told collects what a Guard tells Options.OnHandshakeError.
type told struct {
	mu  sync.Mutex
	got []toldOne
	c   chan struct{}
}

type toldOne struct {
	key string
	p   zmqguard.Peer
	err error
}

func newTold() *told { return &told{c: make(chan struct{}, 16)} }

func (t *told) add(key string, p zmqguard.Peer, err error) {
	t.mu.Lock()
	t.got = append(t.got, toldOne{key, p, err})
	t.mu.Unlock()
	t.c <- struct{}{}
}

// next waits for the next report (the bound catches a hang only).
func (t *told) next(tb testing.TB) toldOne {
	tb.Helper()
	select {
	case <-t.c:
	case <-time.After(30 * time.Second):
		tb.Fatal("no handshake report within 30s")
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	one := t.got[0]
	t.got = t.got[1:]
	return one
}

// guardFor listens on ep through a guard that reports to tl, with a
// handshake deadline far beyond the test's, so a connection closed in
// time was closed for what it sent, never for its deadline.
func guardFor(t *testing.T, ep string, tl *told) (*zmqguard.Guard, net.Addr) {
	t.Helper()
	g := zmqguard.New(zmqguard.Options{HandshakeTimeout: 10 * time.Minute, OnHandshakeError: tl.add})
	waitConnsClosed(t, g)
	pub, _ := newPub(t, g, ep)
	return g, pub.Addr()
}

// sendAndWaitClosed connects to addr, writes b, and waits (holding the
// connection open) until the guard closes it.
func sendAndWaitClosed(t *testing.T, addr net.Addr, b []byte) net.Conn {
	t.Helper()
	c, err := net.Dial(addr.Network(), addr.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second)) // catches a hang only
	if _, err := io.Copy(io.Discard, c); err != nil {
		t.Fatalf("%q: the guard did not close the connection: %v", b, err)
	}
	return c
}

// TestNotZMTPRefusedAtOnce: an HTTP request or a TLS ClientHello shorter
// than a greeting was held until the peer closed (then reported as
// "EOF") or the handshake deadline passed. The first bytes now tell: the
// connection is closed at once, and the error says what they look like.
func TestNotZMTPRefusedAtOnce(t *testing.T) {
	tl := newTold()
	g, addr := guardFor(t, "tcp://127.0.0.1:0", tl)
	for _, tc := range []struct {
		name string
		send []byte
		want string
	}{
		{"http", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), `an HTTP request ("GET / HTTP/1.1")`},
		{"tls", []byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03}, "TLS ClientHello"},
		{"other", []byte("hello\n"), `68 65 6c 6c 6f 0a ("hello\n")`},
		{"no 0x7f", []byte{0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0x01}, "ff 00"},
	} {
		c := sendAndWaitClosed(t, addr, tc.send)
		got := tl.next(t)
		if !errors.Is(got.err, zmqguard.ErrNotZMTP) || !strings.Contains(got.err.Error(), tc.want) {
			t.Errorf("%s: told %v, want ErrNotZMTP naming %s", tc.name, got.err, tc.want)
		}
		if local := c.LocalAddr().String(); got.p.Addr != local || got.key != "ip:127.0.0.1" {
			t.Errorf("%s: told peer %+v key %q, want address %s (with its port) and key ip:127.0.0.1", tc.name, got.p, got.key, local)
		}
	}
	if st := g.Stats(); st.HandshakeErrors != 4 || st.HandshakesAbandoned != 0 || st.HandshakeTimeouts != 0 {
		t.Errorf("stats %+v: want 4 handshake errors", st)
	}
}

// TestUnsupportedGreetingRefused: a ZMTP greeting for an older version
// is refused at its version byte, one for CURVE at its mechanism, each
// told as ErrUnsupportedGreeting rather than as a peer that is no ZMTP.
func TestUnsupportedGreetingRefused(t *testing.T) {
	tl := newTold()
	g, addr := guardFor(t, "tcp://127.0.0.1:0", tl)
	zmtp2 := zmtptest.Greeting()[:11]
	zmtp2[10] = 1
	curve := zmtptest.Greeting()
	copy(curve[12:32], "CURVE\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00")
	for _, tc := range []struct {
		name string
		send []byte
		want string
	}{
		{"zmtp2", zmtp2, "ZMTP version byte 1, need 3"},
		{"curve", curve, `security mechanism "CURVE"`},
	} {
		sendAndWaitClosed(t, addr, tc.send)
		got := tl.next(t)
		if !errors.Is(got.err, zmqguard.ErrUnsupportedGreeting) || errors.Is(got.err, zmqguard.ErrNotZMTP) || !strings.Contains(got.err.Error(), tc.want) {
			t.Errorf("%s: told %v, want ErrUnsupportedGreeting naming %s", tc.name, got.err, tc.want)
		}
	}
	if st := g.Stats(); st.HandshakeErrors != 2 {
		t.Errorf("stats %+v: want 2 handshake errors", st)
	}
}

// TestClosedInHandshakeIsNoError: a ZeroMQ client that sent part of a
// valid greeting and hung up (it gave up, or exited) was counted and
// told as a malformed handshake (r56 soak: 7 of 8 "malformed" lines were
// such clients). It is now a handshake abandoned, told as
// ErrClosedInHandshake with the peer's address and port on tcp and its
// pid on ipc.
func TestClosedInHandshakeIsNoError(t *testing.T) {
	for _, ep := range []string{"tcp://127.0.0.1:0", "ipc://" + t.TempDir() + "/pub.sock"} {
		tl := newTold()
		g, addr := guardFor(t, ep, tl)
		c, err := net.Dial(addr.Network(), addr.String())
		if err != nil {
			t.Fatal(err)
		}
		local := c.LocalAddr().String()
		if _, err := c.Write(zmtptest.Greeting()[:11]); err != nil {
			t.Fatal(err)
		}
		c.Close()
		got := tl.next(t)
		if !errors.Is(got.err, zmqguard.ErrClosedInHandshake) {
			t.Errorf("%s: told %v, want ErrClosedInHandshake", ep, got.err)
		}
		if addr.Network() == "tcp" && got.p.Addr != local {
			t.Errorf("%s: told peer %+v, want address %s (with its port)", ep, got.p, local)
		}
		if addr.Network() == "unix" && (!got.p.HasCred || got.p.PID != int32(os.Getpid())) {
			t.Errorf("%s: told peer %+v, want the credentials of pid %d", ep, got.p, os.Getpid())
		}
		if st := g.Stats(); st.HandshakesAbandoned != 1 || st.HandshakeErrors != 0 || st.Probes != 0 {
			t.Errorf("%s: stats %+v: want 1 handshake abandoned, no error", ep, st)
		}
	}
}

// TestHandshakeTimeoutIsTold: a peer that connected and stalled in its
// handshake until the deadline was counted (Stats.HandshakeTimeouts) and
// told to nobody, so the owner could not log who it was (r56 hsfix). It
// is now told as ErrHandshakeTimeout, with the peer's address and port
// and how far it got.
func TestHandshakeTimeoutIsTold(t *testing.T) {
	tl := newTold()
	g := zmqguard.New(zmqguard.Options{HandshakeTimeout: 200 * time.Millisecond, OnHandshakeError: tl.add})
	waitConnsClosed(t, g)
	pub, _ := newPub(t, g, "tcp://127.0.0.1:0")
	for _, tc := range []struct {
		name string
		send []byte
		want string
	}{
		{"silent", nil, "(200ms): it sent nothing"},
		{"part of the greeting", zmtptest.Greeting()[:11], "(200ms): it sent 11 of the greeting's 64 bytes"},
		{"greeting only", zmtptest.Greeting(), "(200ms): it sent its greeting and 0 bytes after it, no complete READY command"},
	} {
		c := sendAndWaitClosed(t, pub.Addr(), tc.send)
		got := tl.next(t)
		if !errors.Is(got.err, zmqguard.ErrHandshakeTimeout) || !strings.Contains(got.err.Error(), tc.want) {
			t.Errorf("%s: told %v, want ErrHandshakeTimeout saying %q", tc.name, got.err, tc.want)
		}
		if local := c.LocalAddr().String(); got.p.Addr != local || got.key != "ip:127.0.0.1" {
			t.Errorf("%s: told peer %+v key %q, want address %s (with its port) and key ip:127.0.0.1", tc.name, got.p, got.key, local)
		}
	}
	if st := g.Stats(); st.HandshakeTimeouts != 3 || st.HandshakeErrors != 0 || st.HandshakesAbandoned != 0 || st.Probes != 0 {
		t.Errorf("stats %+v: want 3 handshake timeouts and nothing else", st)
	}
}
