package zmqguard_test

import (
	"io"
	"net"
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
