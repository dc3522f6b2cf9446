package controller

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/poold/poold/events/zmqguard"
)

// Holding the endpoint for an upgrade's exec, which closes every control
// connection: a request read and not answered by then would never be.
// While held, the endpoint accepts no connection (a client dialling
// waits in the kernel's backlog for the next image, which takes the
// listener over), and it is quiet once every request it took is answered,
// the reply written to its connection, and nothing came or went for
// quietFor (no byte read from a connection, no request taken, no reply
// sent). Requests still come in on the open connections and go to
// the handler as usual: the arbiter, whose loop is in the hand-over,
// answers each one that reaches it "not run, send it again"
// (arbiter/upgradectl.go), so that its client's next request comes after
// the exec, on a new connection. The quiet time lets a client that just
// had an answer send its next request, to be answered so, before the
// exec. One that comes later, in the instant before the exec, is still
// cut with its connection.

// quietFor is how long a held endpoint must have taken no request and
// sent no reply to be quiet: a client's turn from an answer to its next
// request, with room for a loaded machine.
const quietFor = 20 * time.Millisecond

// When the next image takes the open connections over (conns), they are
// frozen instead: each stops reading at its next message boundary, what
// its client sends next waits in the kernel's socket buffer for the next
// image (zmqguard's Freeze and HandOff). The endpoint is then quiet once
// every connection is stopped and every request read from them is
// answered and its reply written: no quiet time, nothing is cut.

// Hold holds c for an upgrade's exec (see above); conns: the next image
// takes the open connections over. quiet reports whether it is quiet;
// release ends the hold (the exec failed). A Controller not running is
// always quiet.
func (c *Controller) Hold(conns bool) (quiet func() bool, release func()) {
	s := c.srv.Load()
	if s == nil {
		return func() bool { return true }, func() {}
	}
	return s.hold(conns)
}

// HoldAll holds every Controller running in this process: what an
// upgrade's exec, which closes all their connections, needs. quiet
// reports whether all of them are quiet.
func HoldAll(conns bool) (quiet func() bool, release func()) {
	running.mu.Lock()
	defer running.mu.Unlock()
	var quiets []func() bool
	var releases []func()
	for c := range running.set {
		q, r := c.Hold(conns)
		quiets = append(quiets, q)
		releases = append(releases, r)
	}
	return func() bool {
			for _, q := range quiets {
				if !q() {
					return false
				}
			}
			return true
		}, func() {
			for _, r := range releases {
				r()
			}
		}
}

// running is the set of Controllers between bind and close.
var running = struct {
	mu  sync.Mutex
	set map[*Controller]struct{}
}{set: map[*Controller]struct{}{}}

func (c *Controller) setRunning(s *server) {
	c.srv.Store(s)
	running.mu.Lock()
	defer running.mu.Unlock()
	if s != nil {
		running.set[c] = struct{}{}
	} else {
		delete(running.set, c)
	}
}

func (s *server) hold(conns bool) (quiet func() bool, release func()) {
	resume := s.c.Guard.PauseAccept()
	if !conns {
		s.mu.Lock()
		s.c.log.Info("control endpoint held for the upgrade's exec: new connections wait for the new image", "endpoint", s.c.bound, "unanswered", s.owed)
		s.mu.Unlock()
		return s.quiet, resume
	}
	thaw := s.c.Guard.Freeze()
	s.mu.Lock()
	s.c.log.Info("control endpoint held for the upgrade's exec: its connections go to the new image, new ones wait for it", "endpoint", s.c.bound, "unanswered", s.owed)
	s.mu.Unlock()
	return s.stopped, func() { thaw(); resume() }
}

// stopped reports whether every connection is frozen at a message
// boundary, every message read from them taken, every request answered
// and every reply written.
func (s *server) stopped() bool {
	g := s.c.Guard
	if !g.Parked() {
		return false
	}
	s.mu.Lock()
	q := s.owed == 0 && s.unsent == 0 && s.received == g.Delivered()
	s.mu.Unlock()
	return q && g.Unflushed() == 0
}

// HeldFor says what the held endpoints wait for, when they are not
// quiet: for the log of an exec that does not wait any longer.
func HeldFor() string {
	running.mu.Lock()
	defer running.mu.Unlock()
	var parts []string
	for c := range running.set {
		if s := c.srv.Load(); s != nil {
			parts = append(parts, s.heldFor()...)
		}
	}
	if len(parts) == 0 {
		return fmt.Sprintf("requests still coming in on the open connections (not %v without one)", quietFor)
	}
	return strings.Join(parts, "; ")
}

func (s *server) heldFor() []string {
	g := s.c.Guard
	s.mu.Lock()
	owed, unsent, received := s.owed, s.unsent, s.received
	s.mu.Unlock()
	ep := " on " + s.c.bound
	var out []string
	if n := g.Unparked(); n > 0 {
		out = append(out, fmt.Sprintf("%d connection(s)%s in the middle of a message (they are closed by the exec, their clients reconnect)", n, ep))
	}
	if owed > 0 {
		out = append(out, fmt.Sprintf("%d request(s)%s not answered yet (their clients get no answer)", owed, ep))
	}
	if unsent > 0 {
		out = append(out, fmt.Sprintf("%d reply(ies)%s not handed to the connection yet", unsent, ep))
	}
	if n := g.Unflushed(); n > 0 {
		out = append(out, fmt.Sprintf("%d bytes of replies%s not written (a client that does not read them: its connection is closed by the exec)", n, ep))
	}
	if d := g.Delivered(); d > received {
		out = append(out, fmt.Sprintf("%d message(s)%s read and not taken yet", d-received, ep))
	}
	return out
}

// HandOffAll lists the connections of every Controller running in this
// process that are frozen (Hold with conns), for the next image; see
// zmqguard's HandOff.
func HandOffAll() []*zmqguard.Handoff {
	running.mu.Lock()
	defer running.mu.Unlock()
	var out []*zmqguard.Handoff
	for c := range running.set {
		if c.srv.Load() != nil {
			h := c.Guard.HandOff()
			if h.Left > 0 {
				c.log.Warn("upgrade: control connections not handed over to the new image: poold is short of fds; the exec closes them and their clients reconnect",
					"endpoint", c.bound, "handed_over", len(h.Conns), "closed", h.Left, "error", h.Err)
			}
			out = append(out, h)
		}
	}
	return out
}

// quiet reports whether nothing is owed or unsent, the guard has written
// every reply, and nothing came or went for quietFor.
func (s *server) quiet() bool {
	s.mu.Lock()
	q := s.owed == 0 && s.unsent == 0 && time.Since(s.last) >= quietFor
	s.mu.Unlock()
	return q && s.c.Guard.Unflushed() == 0 && time.Since(s.c.Guard.LastRead()) >= quietFor
}

// answered counts the end of a request that did not park (its reply, if
// any, is with the sender).
func (s *server) answered() {
	s.mu.Lock()
	s.owed--
	s.mu.Unlock()
}

// sent counts a reply the sender is done with.
func (s *server) sent() {
	s.mu.Lock()
	s.unsent--
	s.last = time.Now()
	s.mu.Unlock()
}
