package controller_test

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/poold/poold/arbiter/controller"
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
