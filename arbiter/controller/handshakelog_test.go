package controller_test

import (
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/poold/poold/arbiter/controller"
	"github.com/poold/poold/events/zmqguard"
	"github.com/poold/poold/events/zmqguard/zmtptest"
	"github.com/poold/poold/watcher/proctest"
)

// TestBadHandshakeIsLogged: a client whose ZMTP handshake was malformed
// was closed and counted (handshake_errors in the endpoint's closing
// line) with no log line naming it, so a user could not tell who it was
// (r55 soak). The first is now logged with its peer and why, and a burst
// of them costs at most one line per controller.HandshakeLogEvery.
func TestBadHandshakeIsLogged(t *testing.T) {
	log := &lockedBuffer{}
	s := serveLogging(t, "tcp://127.0.0.1:0", newEcho().handle, nil, log)
	addr := strings.TrimPrefix(s.ep, "tcp://")
	const msg = "control connection closed: the client does not speak ZeroMQ"
	begun := time.Now()
	const burst = 6
	for i := range burst {
		local := sendBadGreeting(t, addr)
		if i == 0 {
			got := log.String()
			for _, want := range []string{msg, "peer=" + local, "peer_key=ip:127.0.0.1", "endpoint=" + s.ep, "suppressed=0",
				`not a ZMTP greeting: it begins like an HTTP request (\"GET / HTTP/1.1\")`} {
				if !strings.Contains(got, want) {
					t.Errorf("log after a bad greeting lacks %q:\n%s", want, got)
				}
			}
		}
	}
	elapsed := time.Since(begun)
	proctest.Eventually(t, "the bad handshakes counted", func() bool {
		return s.Stats().HandshakeErrors == burst
	})
	lines := strings.Count(log.String(), msg)
	if most := 1 + int(elapsed/controller.HandshakeLogEvery); lines > most {
		t.Errorf("%d bad handshakes in %v logged %d lines, want at most %d:\n%s", burst, elapsed, lines, most, log.String())
	}
}

// sendBadGreeting connects to addr, sends 64 bytes that are no ZMTP
// greeting (an HTTP request) and waits for the controller to close it. It
// returns the client's address (ip:port).
func sendBadGreeting(t *testing.T, addr string) string {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := "GET / HTTP/1.1\r\nHost: poold\r\n\r\n"
	if _, err := conn.Write([]byte(req + strings.Repeat(" ", 64-len(req)))); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second)) // catches a hang only
	if _, err := io.Copy(io.Discard, conn); err != nil {
		t.Fatalf("a bad greeting's connection was not closed: %v", err)
	}
	return conn.LocalAddr().String()
}

// TestClosedInHandshakeIsLoggedAsSuch: a ZeroMQ client that sent the
// first 11 bytes of a valid greeting and hung up was logged at warn as
// "malformed ... not a port scan, HTTP or TLS?" with only its IP (r56
// soak: 7 such lines from the soak's own clients). It is now an info
// line saying it closed during the handshake, with its address and port,
// and the endpoint's closing line counts it as handshakes_abandoned.
func TestClosedInHandshakeIsLoggedAsSuch(t *testing.T) {
	log := &lockedBuffer{}
	s := serveAt(t, "tcp://127.0.0.1:0", newEcho().handle, nil, log, hclog.Info)
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.ep, "tcp://"))
	if err != nil {
		t.Fatal(err)
	}
	local := conn.LocalAddr().String()
	if _, err := conn.Write([]byte("\xff\x00\x00\x00\x00\x00\x00\x00\x00\x7f\x03")); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	const msg = "control connection closed during its ZeroMQ handshake"
	proctest.Eventually(t, "the abandoned handshake logged", func() bool {
		return strings.Contains(log.String(), msg)
	})
	got := log.String()
	for _, want := range []string{"[INFO]  " + msg, "peer=" + local, "peer_key=ip:127.0.0.1", `reason="closed during the handshake: `} {
		if !strings.Contains(got, want) {
			t.Errorf("log lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "malformed") || strings.Contains(got, "[WARN]") {
		t.Errorf("a client that hung up mid-handshake was logged as malformed, or at warn:\n%s", got)
	}
	if st := s.Stats(); st.HandshakesAbandoned != 1 || st.HandshakeErrors != 0 {
		t.Errorf("stats %+v: want 1 handshake abandoned and no error", st)
	}
}

// TestOversizedRequestNamesPeer: the warning for a request over the limit
// named the peer as its budget key only (peer=ip:127.0.0.1), which no
// operator can tie to a process (r56 hsfix). It now names it as the
// handshake lines do: address and port on tcp, pid and uid on ipc, with
// the key beside; and a burst costs one line per HandshakeLogEvery.
func TestOversizedRequestNamesPeer(t *testing.T) {
	for _, tc := range []struct{ name, ep, key string }{
		{"tcp", "tcp://127.0.0.1:0", "ip:127.0.0.1"},
		{"ipc", "", fmt.Sprintf("uid:%d", os.Getuid())},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.ep == "" {
				tc.ep = ipcEndpoint(t)
			}
			log := &lockedBuffer{}
			s := serveLogging(t, tc.ep, newEcho().handle, nil, log)
			const msg = "control connection closed: a request over the limit"
			begun := time.Now()
			const burst = 3
			for i := range burst {
				p := rawPeer(t, s, "DEALER", 0)
				peer := p.Conn.LocalAddr().String()
				if tc.name == "ipc" {
					peer = fmt.Sprintf("pid %d uid %d", os.Getpid(), os.Getuid())
				}
				if _, err := p.Conn.Write([]byte{0x02, 0, 0, 1, 0, 0, 0, 0, 0}); err != nil { // a 2^40-byte frame
					t.Fatal(err)
				}
				if !p.WaitClosed(30 * time.Second) { // catches a hang only
					t.Fatal("peer announcing a 2^40-byte frame still connected")
				}
				if i > 0 {
					continue
				}
				proctest.Eventually(t, "the oversized request logged", func() bool { return strings.Contains(log.String(), msg) })
				for _, want := range []string{"peer=\"" + peer + "\"", "peer_key=" + tc.key, "endpoint=" + s.ep, "limit_bytes=1048576", "suppressed=0"} {
					if tc.name == "tcp" && strings.HasPrefix(want, "peer=") {
						want = "peer=" + peer // no space: hclog leaves it unquoted
					}
					if !strings.Contains(log.String(), want) {
						t.Errorf("log lacks %q:\n%s", want, log.String())
					}
				}
			}
			elapsed := time.Since(begun)
			proctest.Eventually(t, "the oversized requests counted", func() bool { return s.Stats().Oversized == burst })
			if lines, most := strings.Count(log.String(), msg), 1+int(elapsed/controller.HandshakeLogEvery); lines > most {
				t.Errorf("%d oversized requests in %v logged %d lines, want at most %d:\n%s", burst, elapsed, lines, most, log.String())
			}
		})
	}
}

// TestHandshakeTimeoutIsLogged: a client that connected and stalled in
// its ZeroMQ greeting until the handshake deadline was only counted
// (handshake_timeouts in the endpoint's closing line), so nobody could
// tell who it was (r56 hsfix). It is now a warning naming the peer, its
// address and port, and how far it got; a crowd of them (a scanner that
// holds its connections) costs one line per HandshakeLogEvery.
func TestHandshakeTimeoutIsLogged(t *testing.T) {
	log := &lockedBuffer{}
	s := serveLogging(t, "tcp://127.0.0.1:0", newEcho().handle, func(c *controller.Controller) {
		o := c.Guard.Options() // the controller's callbacks, a short deadline
		o.HandshakeTimeout = 200 * time.Millisecond
		c.Guard = zmqguard.New(o)
	}, log)
	const msg = "control connection closed: its ZeroMQ handshake did not finish in time"
	begun := time.Now()
	const crowd = 8
	var locals []string
	for range crowd {
		p := rawPeer(t, s, "", 0)
		if _, err := p.Conn.Write(zmtptest.Greeting()[:11]); err != nil {
			t.Fatal(err)
		}
		locals = append(locals, "peer="+p.Conn.LocalAddr().String())
		t.Cleanup(func() {
			if !p.WaitClosed(30 * time.Second) { // catches a hang only
				t.Error("a stalled handshake was not closed")
			}
		})
	}
	proctest.Eventually(t, "the stalled handshakes counted and logged", func() bool {
		return s.Stats().HandshakeTimeouts == crowd && strings.Contains(log.String(), msg)
	})
	elapsed := time.Since(begun)
	got := log.String()
	for _, want := range []string{"[WARN]  " + msg, "peer_key=ip:127.0.0.1", "endpoint=" + s.ep,
		`reason="handshake not completed in time (200ms): it sent 11 of the greeting's 64 bytes"`} {
		if !strings.Contains(got, want) {
			t.Errorf("log lacks %q:\n%s", want, got)
		}
	}
	if !slices.ContainsFunc(locals, func(l string) bool { return strings.Contains(got, l+" ") }) {
		t.Errorf("log names none of the stalled clients %v by address and port:\n%s", locals, got)
	}
	if lines, most := strings.Count(got, msg), 1+int(elapsed/controller.HandshakeLogEvery); lines < 1 || lines > most {
		t.Errorf("%d stalled handshakes in %v logged %d lines, want 1 to %d:\n%s", crowd, elapsed, lines, most, got)
	}
	if st := s.Stats(); st.HandshakeErrors != 0 || st.HandshakesAbandoned != 0 {
		t.Errorf("stats %+v: a stalled handshake counted as an error or an abandon", st)
	}
}
