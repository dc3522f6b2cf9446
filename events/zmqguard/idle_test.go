package zmqguard_test

import (
	"strings"
	"testing"
	"time"

	"github.com/go-zeromq/zmq4"

	"github.com/poold/poold/events/zmqguard"
)

// hang bounds a wait that only a hang makes long.
const hang = 30 * time.Second

// Options.IdleTimeout closes a bounded peer's connection that says
// nothing, once nothing is owed to it: not while a request of it is
// unanswered, and never another peer's quiet connection.
func TestIdleTimeoutClosesQuietConnectionsOfBoundedPeers(t *testing.T) {
	addr := freePort(t)
	g := zmqguard.New(zmqguard.Options{IdleTimeout: func(p zmqguard.Peer) time.Duration {
		if strings.HasPrefix(p.Addr, "127.0.0.4:") {
			return 300 * time.Millisecond
		}
		return 0
	}})
	r := newRouter(t, g, "tcp://"+addr)

	other := dealerFrom(t, "127.0.0.5", addr) // quiet, not bounded
	busy := dealerFrom(t, "127.0.0.4", addr)
	if err := busy.Send([]byte("q")); err != nil {
		t.Fatal(err)
	}
	id := recvFrom(t, r, "q") // not answered yet
	quiet := dealerFrom(t, "127.0.0.4", addr)
	if !quiet.WaitClosed(hang) {
		t.Fatal("a bounded peer's connection that sent nothing is still open")
	}

	// busy has been quiet longer than quiet was, but is owed a reply.
	if err := r.Send(zmq4.NewMsgFrom(id, []byte("a"))); err != nil {
		t.Fatal(err)
	}
	_ = busy.Conn.SetReadDeadline(time.Now().Add(hang))
	if m, err := busy.Recv(); err != nil || len(m) != 1 || string(m[0]) != "a" {
		t.Fatalf("the reply to a bounded peer's request: %q, %v", m, err)
	}
	if !busy.WaitClosed(hang) {
		t.Fatal("a bounded peer's connection is still open after its reply, quiet")
	}
	roundTrip(t, r, other, "still here")
	if n := g.Stats().IdleClosed; n != 2 {
		t.Errorf("IdleClosed = %d, want 2", n)
	}
}
