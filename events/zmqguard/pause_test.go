package zmqguard_test

import (
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/events/zmqguard"
)

// TestPauseAcceptHoldsNewConnections: while a guard's accepting is paused
// (an upgrade's exec step), a new connection waits unaccepted, so the next
// image, which takes the listener over, is the one to greet it; after
// resume (the exec failed) it is greeted.
func TestPauseAcceptHoldsNewConnections(t *testing.T) {
	g := zmqguard.New(zmqguard.Options{})
	_, ep := newPub(t, g, "tcp://127.0.0.1:0")
	resume := g.PauseAccept()
	c, err := net.Dial("tcp", strings.TrimPrefix(ep, "tcp://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Nothing comes while paused (a guard that accepted would send its
	// greeting at once).
	_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	b := make([]byte, 10)
	if n, err := c.Read(b); n > 0 || !isTimeout(err) {
		t.Fatalf("read from a paused guard's listener: %d bytes, %v; want nothing (not accepted)", n, err)
	}
	resume()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c, b); err != nil || b[0] != 0xff {
		t.Fatalf("after resume: %v, %x; want the ZMTP greeting", err, b)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// TestPauseAcceptStopsAtOnce: once PauseAccept has returned, no
// connection is accepted, not even by an Accept that the pause woke but
// that ran only after the client connected (the runtime then reports the
// listener ready rather than the deadline). Many rounds, each dialling
// right after the pause, to give that race its chances.
func TestPauseAcceptStopsAtOnce(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			ep := "tcp://127.0.0.1:0"
			if network == "unix" {
				ep = "ipc://" + filepath.Join(t.TempDir(), "pause.sock")
			}
			g := zmqguard.New(zmqguard.Options{})
			_, ep = newPub(t, g, ep)
			addr := strings.TrimPrefix(strings.TrimPrefix(ep, "tcp://"), "ipc://")
			for round := range 100 {
				resume := g.PauseAccept()
				c, err := net.Dial(network, addr)
				if err != nil {
					resume()
					t.Fatal(err)
				}
				// An acceptor that took c sends the greeting at once; a
				// short wait is enough to see it (and can only miss the
				// defect, never invent it).
				_ = c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
				b := make([]byte, 10)
				n, err := c.Read(b)
				resume()
				if n > 0 || !isTimeout(err) {
					c.Close()
					t.Fatalf("round %d: read from a paused guard's listener: %d bytes, %v; want nothing (not accepted)", round, n, err)
				}
				_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
				_, err = io.ReadFull(c, b)
				c.Close()
				if err != nil || b[0] != 0xff {
					t.Fatalf("round %d, after resume: %v, %x; want the ZMTP greeting", round, err, b)
				}
			}
		})
	}
}
