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
// blocking = false sets O_NONBLOCK at bind, and a reload sets it in place
// (same fd, which the workers share).
func TestBlockingFalseSetsNonBlock(t *testing.T) {
	for _, sp := range []configs.Socket{tcpSpec("t"), unixSpec(t, "u"), {Name: "a", Path: "@poold-blocking-test", Backlog: 8}} {
		t.Run(sp.Name, func(t *testing.T) {
			s := mustBind(t, sp)
			l := mustGet(t, s, sp.Name)
			fd := l.FD()
			if nonBlocking(t, fd) {
				t.Fatalf("blocking = true: fd %d has O_NONBLOCK", fd)
			}
			sp = l.Spec
			sp.NonBlocking = true
			if _, err := s.Apply([]configs.Socket{sp}); err != nil {
				t.Fatal(err)
			}
			if l := mustGet(t, s, sp.Name); l.FD() != fd || !nonBlocking(t, fd) {
				t.Fatalf("after a reload to blocking = false: fd %d (was %d), O_NONBLOCK %t; want the same fd, set", l.FD(), fd, nonBlocking(t, fd))
			}
			checkServes(t, mustGet(t, s, sp.Name))
		})
	}
}

// TestBlockingTrueNeverClearsAWorkersNonBlock: a Go worker's
// net.FileListener makes the shared socket non-blocking, and its runtime
// relies on that. poold cleared O_NONBLOCK when it took the socket over
// in an upgrade (and a reload to blocking = true did too): the Go
// workers then blocked in accept, and every stop waited for SIGKILL at
// graceful_timeout.
func TestBlockingTrueNeverClearsAWorkersNonBlock(t *testing.T) {
	sp := tcpSpec("t")
	sp.NonBlocking = true
	s := mustBind(t, sp)
	l := mustGet(t, s, "t")
	fd := l.FD()
	sp = l.Spec
	sp.NonBlocking = false
	if _, err := s.Apply([]configs.Socket{sp}); err != nil {
		t.Fatal(err)
	}
	if !nonBlocking(t, fd) {
		t.Error("a reload to blocking = true cleared O_NONBLOCK under the workers")
	}
	// An upgrade: the new image adopts the socket of the old one, the
	// same open file under an fd of its own (the exec's; a dup here, so
	// that each Set closes its own).
	in := s.Handover()
	for i := range in {
		dup, err := unix.Dup(in[i].FD)
		if err != nil {
			t.Fatal(err)
		}
		in[i].FD = dup
	}
	up, err := Adopt(in)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = up.Close() })
	if l := mustGet(t, up, "t"); !nonBlocking(t, l.FD()) {
		t.Errorf("after an upgrade: O_NONBLOCK cleared on the adopted fd %d (was %d); want the worker's mode kept", l.FD(), fd)
	}
}
