package zmqguard

import (
	"os"
	"sync"
	"syscall"
	"time"
)

// heldSet bounds a Guard's completed connections (accepted, handshake
// done, or handed over by the previous image), per peer and in all:
// every one is a file descriptor, two goroutines and buffers that poold
// also needs for its workers. Like pendingSet it never refuses a
// newcomer; it makes room, in this order:
//
//  1. A peer at its own bound (Options.MaxConnsPerPeer, or what
//     Options.ConnLimit says for it) gives up one of its own.
//
//  2. When the Guard is at MaxConns, the peer holding the most gives one
//     up, so a peer under its share is never displaced by another.
//
//  3. When the Guard's members of its Budget (every listener of poold)
//     hold more than the budget, the member holding the most closes one
//     as at its own total bound (shed), sparing exempt peers.
//
// Within a peer the victim is its idle connection (every request it sent
// answered) that has been quiet longest, else its busy one quiet the
// longest; a connection that has sent nothing since its handshake, less
// than Options.FreshFor ago, goes last (a client about to send its request). poold's own
// uid and root have no bound of their own on ipc (defaultConnLimit), so
// a crowd of another uid can never keep root's poolctl out.
//
// Concurrency: a leaf under its own mutex, shared by a Guard's listeners
// and connections' writer goroutines; add and remove never block on I/O.
type heldSet struct {
	max, perPeer int
	freshFor     int64         // ns: Options.FreshFor
	budget       *BudgetMember // nil: none

	mu     sync.Mutex
	n      int
	seq    uint64
	byPeer map[string][]*conn // each in arrival order
}

// heldEntry is what a conn carries for its heldSet (the fields under
// heldSet.mu but peer, set once before add).
type heldEntry struct {
	peer    string
	seq     uint64 // arrival order in the set
	in      bool   // registered
	exempt  bool   // no bound of its own (ConnLimit -1): not shed for the budget
	at      int64  // unix ns when added
	sentAt0 int64  // c.requests when added: has it sent since?
}

func newHeldSet(max, perPeer int) *heldSet {
	return &heldSet{max: max, perPeer: min(perPeer, max), byPeer: make(map[string][]*conn)}
}

// connCap is the default MaxConns: a quarter of the process's open-file
// limit (RLIMIT_NOFILE), at least 64 and at most 4096, as poold's HTTP
// listeners have.
func connCap() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 1024
	}
	return int(min(max(rl.Cur/4, 64), 4096))
}

// defaultConnLimit exempts poold's own uid and root from the per-peer
// bound on ipc: either can read poold's memory or signal it anyway.
func defaultConnLimit(p Peer) int {
	if p.HasCred && (p.UID == 0 || p.UID == uint32(os.Geteuid())) {
		return -1
	}
	return 0
}

// add registers c from peer, whose own bound is limit (-1: none, 0: the
// set's). It returns the connection to close to make room, if any, and
// which bound made it ("peer" or "total").
func (s *heldSet) add(c *conn, peer string, limit int) (victim *conn, bound string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if limit == 0 {
		limit = s.perPeer
	}
	now := time.Now().UnixNano()
	if q := s.byPeer[peer]; limit > 0 && len(q) >= limit {
		victim, bound, n = s.quietest(q, now), "peer", limit
	} else if s.n >= s.max {
		if hog := s.hogLocked(false); hog != nil {
			victim, bound, n = s.quietest(hog, now), "total", s.max
		}
	}
	if victim != nil {
		s.removeLocked(victim)
	}
	s.seq++
	c.held = heldEntry{peer: peer, seq: s.seq, in: true, exempt: limit < 0, at: now, sentAt0: c.requests.Load()}
	s.byPeer[peer] = append(s.byPeer[peer], c)
	s.n++
	if s.budget != nil {
		s.budget.Add()
	}
	return victim, bound, n
}

// hogLocked returns the connections of the peer holding the most (of
// equals, the one that came first, so the choice does not depend on map
// order); with spareExempt, of the peers with a bound of their own.
func (s *heldSet) hogLocked(spareExempt bool) []*conn {
	var hog []*conn
	for _, q := range s.byPeer {
		if spareExempt && q[0].held.exempt {
			continue
		}
		if len(q) > len(hog) || len(q) == len(hog) && q[0].held.seq < hog[0].held.seq {
			hog = q
		}
	}
	return hog
}

// quietest returns the connection of q to close: its idle one quiet the
// longest, else its busy one quiet the longest, else (every one fresh)
// the oldest.
func (s *heldSet) quietest(q []*conn, now int64) *conn {
	var pick [3]*conn // idle, busy, fresh
	for _, c := range q {
		k := 1
		if c.requests.Load() == c.held.sentAt0 && now-c.held.at < s.freshFor {
			k = 2
		} else if c.idle() {
			k = 0
		}
		if pick[k] == nil || c.lastActive.Load() < pick[k].lastActive.Load() {
			pick[k] = c
		}
	}
	for _, c := range pick {
		if c != nil {
			return c
		}
	}
	return nil
}

// remove unregisters c (a no-op if it was displaced or never added).
func (s *heldSet) remove(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.held.in {
		s.removeLocked(c)
	}
}

func (s *heldSet) removeLocked(c *conn) {
	c.held.in = false
	s.n--
	if s.budget != nil {
		s.budget.Remove()
	}
	q := s.byPeer[c.held.peer]
	for i, x := range q {
		if x == c {
			q = append(q[:i], q[i+1:]...)
			break
		}
	}
	if len(q) == 0 {
		delete(s.byPeer, c.held.peer)
		return
	}
	s.byPeer[c.held.peer] = q
}

// all returns the held connections.
func (s *heldSet) all() []*conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*conn, 0, s.n)
	for _, q := range s.byPeer {
		out = append(out, q...)
	}
	return out
}

// counts returns the number of held connections, in all and per peer.
func (s *heldSet) counts() (int, map[string]int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n, peerCounts(s.byPeer)
}

// hold counts c, a server conn, against g's bounds, and closes the
// connection displaced to make room (telling OnConnLimit).
func (g *Guard) hold(c *conn) {
	c.touch()
	c.requests.Store(int64(c.in.msgs)) // read with the handshake
	p := peerInfo(c.raw)
	c.who, c.since = p, time.Now() // before the set makes c visible (ConnStats)
	limit := g.opts.ConnLimit(p)
	c.armIdle(p)
	victim, bound, n := g.held.add(c, peerOf(c.raw), limit)
	if victim != nil {
		g.evictHeld(victim, bound, n)
	}
	if g.held.budget != nil && !g.opts.Budget.Settle() && limit >= 0 {
		// Every listener's connections are busy: the newcomer goes.
		g.held.remove(c)
		g.evictHeld(c, "budget", g.opts.Budget.Max())
	}
}

// evictHeld closes victim, no longer held, to keep a bound, and tells
// OnConnLimit.
func (g *Guard) evictHeld(victim *conn, bound string, n int) {
	if bound != "unread" { // counted in Evicted
		g.connsEvicted.Add(1)
	}
	victim.abort()
	if f := g.opts.OnConnLimit; f != nil {
		f(victim.held.peer, bound, n)
	}
}

// shed is g's part in its Budget: the peer holding the most of g's
// connections, poold's own uid and root aside, loses its quietest.
func (g *Guard) shed() bool {
	s := g.held
	s.mu.Lock()
	var victim *conn
	if hog := s.hogLocked(true); hog != nil {
		victim = s.quietest(hog, time.Now().UnixNano())
		s.removeLocked(victim)
	}
	s.mu.Unlock()
	if victim == nil {
		return false
	}
	g.evictHeld(victim, "budget", g.opts.Budget.Max())
	return true
}

// idle reports whether every message the peer sent has had one back: on
// a control socket, no request of this connection is being served.
func (c *conn) idle() bool { return c.replies.Load() >= c.requests.Load() }

// touch records activity on c, for quietest.
func (c *conn) touch() { c.lastActive.Store(time.Now().UnixNano()) }

// HangUp closes the connection behind a ROUTER identity frame (as
// Options.TagPeers assigned it): once the next message for it is queued
// whole when afterReply (that message is flushed first, for at most
// Linger), else at once after flushing what is queued. It reports whether
// that connection was still open. A peer refused outright is answered,
// then hung up on, as sshd does, so it cannot hold connections open.
func (g *Guard) HangUp(identity []byte, afterReply bool) bool {
	id := string(identity)
	var c *conn
	g.held.mu.Lock()
	for _, q := range g.held.byPeer {
		for _, x := range q {
			if x.peerID != "" && x.peerID == id {
				c = x
			}
		}
	}
	g.held.mu.Unlock()
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if afterReply {
		c.hangUpAfter = int64(c.out.msgs)
	} else {
		c.closeSoonLocked()
	}
	return true
}
