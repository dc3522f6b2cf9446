package controller_test

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"

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
	const msg = "control connection closed: its ZeroMQ handshake"
	begun := time.Now()
	const burst = 6
	for i := range burst {
		sendBadGreeting(t, addr)
		if i == 0 {
			got := log.String()
			for _, want := range []string{msg, "peer=ip:127.0.0.1", "bad ZMTP greeting", "endpoint=tcp://127.0.0.1:", "suppressed=0"} {
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
// greeting (an HTTP request) and waits for the controller to close it.
func sendBadGreeting(t *testing.T, addr string) {
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
}
