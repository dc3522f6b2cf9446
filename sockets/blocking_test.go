package sockets

import (
	"testing"

	"github.com/poold/poold/configs"
	"golang.org/x/sys/unix"
)

// nonBlocking reports whether fd has O_NONBLOCK.
func nonBlocking(t *testing.T, fd int) bool {
	t.Helper()
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		t.Fatal(err)
	}
	return fl&unix.O_NONBLOCK != 0
}

// TestBlockingFalseSetsNonBlock: Circus binds its sockets non-blocking
// unless blocking = true, and workers written for it (a socketserver
// that accepts after select) rely on it: several woken for one
// connection, the losers get EAGAIN. On poold's blocking socket they
// slept in accept, deaf to SIGTERM until graceful_timeout's SIGKILL.
// blocking = false sets O_NONBLOCK at bind, and a reload changes it in
// place (same fd, which the workers share).
func TestBlockingFalseSetsNonBlock(t *testing.T) {
	for _, sp := range []configs.Socket{tcpSpec("t"), unixSpec(t, "u"), {Name: "a", Path: "@poold-blocking-test", Backlog: 8}} {
		t.Run(sp.Name, func(t *testing.T) {
			sp.NonBlocking = true
			s := mustBind(t, sp)
			l := mustGet(t, s, sp.Name)
			fd := l.FD()
			if !nonBlocking(t, fd) {
				t.Fatalf("blocking = false: fd %d has no O_NONBLOCK", fd)
			}
			checkServes(t, l)
			sp = l.Spec
			for _, nb := range []bool{false, true} {
				sp.NonBlocking = nb
				if _, err := s.Apply([]configs.Socket{sp}); err != nil {
					t.Fatal(err)
				}
				l := mustGet(t, s, sp.Name)
				if l.FD() != fd {
					t.Fatalf("a change of blocking rebound the socket: fd %d, was %d", l.FD(), fd)
				}
				if got := nonBlocking(t, fd); got != nb {
					t.Errorf("after a reload to blocking = %t: O_NONBLOCK %t", !nb, got)
				}
			}
		})
	}
}
