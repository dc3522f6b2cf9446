package zmqguard

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// pendingSet holds a Guard's connections that are still in their
// handshake, grouped by peer, and decides which one to close when a new
// connection needs room. It never refuses the new connection: a crowd of
// silent peers must not lock out a real client that greets at once.
//
// Room is made, in this order:
//
//  1. A peer at MaxHandshakesPerPeer gives up one of its own.
//  2. When the Guard is at MaxHandshakes, the peer holding the most gives
//     one up (of equals, the one with the oldest), so a peer under its
//     share is never displaced by another.
//
// Within a peer the victim is its oldest connection that has not sent a
// byte yet, else its oldest. A real client sends its greeting as soon as
// it connects, so it is displaced only by a peer that opens more than a
// whole share of connections that each send something, all within that
// client's handshake.
//
// A peer is the uid at the other end (SO_PEERCRED) for ipc, the remote
// address for tcp (its /64 for IPv6).
//
// Concurrency: a small leaf shared by a Guard's acceptors and handshake
// goroutines, under its own mutex; add and remove never block on I/O.
type pendingSet struct {
	max, perPeer int

	mu     sync.Mutex
	n      int
	seq    uint64
	byPeer map[string][]*pendingConn // each in arrival order
}

// pendingConn is one connection in handshake.
type pendingConn struct {
	rc     net.Conn
	peer   string
	seq    uint64      // arrival order in the set
	talked atomic.Bool // the peer has sent at least one byte
	gone   bool        // displaced or removed; under pendingSet.mu
}

func newPendingSet(max, perPeer int) *pendingSet {
	return &pendingSet{max: max, perPeer: min(perPeer, max), byPeer: make(map[string][]*pendingConn)}
}

// add registers rc from peer. It returns the new entry and, when room had
// to be made, the displaced entry, whose connection the caller closes.
func (s *pendingSet) add(rc net.Conn, peer string) (e, victim *pendingConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	e = &pendingConn{rc: rc, peer: peer, seq: s.seq}
	if victim = s.victimFor(peer); victim != nil {
		s.removeLocked(victim)
	}
	s.byPeer[peer] = append(s.byPeer[peer], e)
	s.n++
	return e, victim
}

func (s *pendingSet) victimFor(peer string) *pendingConn {
	if q := s.byPeer[peer]; len(q) >= s.perPeer {
		return pick(q)
	}
	if s.n < s.max {
		return nil
	}
	var hog []*pendingConn
	for _, q := range s.byPeer {
		// Ties go to the peer waiting longest, so the choice does not
		// depend on map order.
		if len(q) > len(hog) || len(q) == len(hog) && q[0].seq < hog[0].seq {
			hog = q
		}
	}
	return pick(hog)
}

// pick returns the oldest entry of q that has not talked, else the oldest.
func pick(q []*pendingConn) *pendingConn {
	for _, e := range q {
		if !e.talked.Load() {
			return e
		}
	}
	return q[0]
}

// remove unregisters e and reports whether it was still registered (false:
// it was displaced, and its connection closed by whoever displaced it).
func (s *pendingSet) remove(e *pendingConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e.gone {
		return false
	}
	s.removeLocked(e)
	return true
}

func (s *pendingSet) removeLocked(e *pendingConn) {
	e.gone = true
	s.n--
	q := s.byPeer[e.peer]
	for i, x := range q {
		if x == e {
			q = append(q[:i], q[i+1:]...)
			break
		}
	}
	if len(q) == 0 {
		delete(s.byPeer, e.peer)
		return
	}
	s.byPeer[e.peer] = q
}

// counts returns the number of pending handshakes, in all and per peer.
func (s *pendingSet) counts() (int, map[string]int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n, peerCounts(s.byPeer)
}

// peerCounts is how many connections byPeer holds for each peer.
func peerCounts[T any](byPeer map[string][]T) map[string]int {
	by := make(map[string]int, len(byPeer))
	for p, q := range byPeer {
		by[p] = len(q)
	}
	return by
}

// peerOf names the peer at the other end of an accepted connection:
// "uid:N" for ipc, "ip:A" for tcp (IPv6 grouped by /64, since one host
// commonly holds a whole /64). A peer that cannot be identified is
// "unknown:" plus the network, and shares that one slot group.
func peerOf(rc net.Conn) string {
	switch c := rc.(type) {
	case *net.UnixConn:
		if cred, ok := peerCred(c); ok {
			return fmt.Sprintf("uid:%d", cred.Uid)
		}
	case *net.TCPConn:
		if a, ok := rc.RemoteAddr().(*net.TCPAddr); ok {
			ip := a.AddrPort().Addr().Unmap().WithZone("")
			if ip.Is6() {
				return "ip:" + netip.PrefixFrom(ip, 64).Masked().String()
			}
			return "ip:" + ip.String()
		}
	}
	return "unknown:" + rc.LocalAddr().Network()
}
