package sockets

import (
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/proctest"
)

// TestApplyTakesBackADrainingSocket: a reload that puts back a tcp socket
// an earlier reload removed, while that one has not closed it yet (its
// workers still stopping: SIGHUPs in a row, reloadconfig --no-wait), keeps
// serving on it. The port used to be refused as in use by poold itself,
// rejecting the whole reload until the earlier one had settled.
func TestApplyTakesBackADrainingSocket(t *testing.T) {
	sp := tcpSpec("web")
	sp.Port = proctest.FreePort(t)
	s := mustBind(t, sp)
	closeRemoved, err := s.Apply(nil) // removed; its workers still stop
	if err != nil {
		t.Fatal(err)
	}
	back := sp
	back.Name = "front" // the same socket under another name too
	closeSecond, err := s.Apply([]configs.Socket{back})
	if err != nil {
		t.Fatalf("putting back a socket the reload before removed: %v", err)
	}
	if err := closeRemoved(); err != nil {
		t.Fatal(err)
	}
	l, ok := s.Get("front")
	if !ok {
		t.Fatal("front is not in the Set")
	}
	if l.Addr() != "127.0.0.1:"+strconv.Itoa(sp.Port) {
		t.Errorf("front listens on %s, want port %d", l.Addr(), sp.Port)
	}
	c, err := net.DialTimeout("tcp", l.Addr(), 5*time.Second)
	if err != nil {
		t.Fatalf("once the earlier reload closed its old socket: %v", err)
	}
	_ = c.Close()
	if err := closeSecond(); err != nil {
		t.Fatal(err)
	}
}
