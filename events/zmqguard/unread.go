package zmqguard

import "sync/atomic"

// A client that sends requests and never reads the replies makes the
// guard queue them: up to MaxBuffered (twice that, then eviction) per
// connection, and nothing bounded the sum over a crowd of connections.
// Options.MaxUnflushed bounds it: past it, the connection holding the
// most queued bytes is closed at once, its queue dropped, and the owner
// told (OnConnLimit, bound "unread").

// queue counts n bytes queued for c's peer (negative: written or
// dropped), in c and in its Guard.
func (c *conn) queue(n int64) {
	c.queued.Add(n)
	c.g.unflushed.Add(n)
}

// unreadState is a Guard's part of the unread bound.
type unreadState struct {
	busy      atomic.Bool  // a check is closing a connection
	releasing atomic.Int64 // bytes of closed connections not yet freed
}

// checkUnread closes the connection with the most queued bytes while the
// Guard's total is over MaxUnflushed (connections closed for it and not
// yet freed aside). One caller at a time; the others go on.
func (g *Guard) checkUnread() {
	if g.unflushed.Load()-g.unread.releasing.Load() <= g.opts.MaxUnflushed || !g.unread.busy.CompareAndSwap(false, true) {
		return
	}
	defer g.unread.busy.Store(false)
	for g.unflushed.Load()-g.unread.releasing.Load() > g.opts.MaxUnflushed {
		victim := g.held.mostQueued()
		if victim == nil {
			return
		}
		q := victim.queued.Load()
		victim.releasing.Store(q)
		g.unread.releasing.Add(q)
		g.evicted.Add(1)
		g.evictHeld(victim, "unread", int(min(g.opts.MaxUnflushed, 1<<31-1)))
	}
}

// mostQueued removes from s and returns its connection with the most
// bytes queued (nil if none has any).
func (s *heldSet) mostQueued() *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	var best *conn
	for _, q := range s.byPeer {
		for _, c := range q {
			if c.queued.Load() > 0 && (best == nil || c.queued.Load() > best.queued.Load()) {
				best = c
			}
		}
	}
	if best != nil {
		s.removeLocked(best)
	}
	return best
}
