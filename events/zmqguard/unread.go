package zmqguard

import (
	"sync/atomic"
	"time"
)

// A client that sends requests and never reads the replies makes the
// guard queue them: up to MaxBuffered (twice that, then eviction) per
// connection, and nothing bounded the sum over a crowd of connections.
// Options.MaxUnflushed bounds it: past it, the connection holding the
// most queued bytes among those that are not reading is closed, its queue
// dropped, and the owner told (OnConnLimit, bound "unread"). A connection
// is reading while its writer moved a byte within Options.UnreadGrace: a
// crowd of clients that each take a big reply (poolctl logs of many
// lines, 100 at once) queue more than the bound for a moment, and closing
// one of them mid-reply would lose a reply to a client that did nothing
// wrong. Root's and poold's own connections (exempt from the peer bounds)
// are spared too.

// queue counts n bytes queued for c's peer (negative: written or
// dropped), in c and in its Guard.
func (c *conn) queue(n int64) {
	if c.queued.Add(n) == n && n > 0 {
		c.moved() // it starts waiting for its reader now
	}
	c.g.unflushed.Add(n)
}

// moved records that c's writer made progress (or had nothing to do).
func (c *conn) moved() { c.movedAt.Store(time.Now().UnixNano()) }

// stalled tells whether c has bytes queued and its writer moved none for
// Options.UnreadGrace.
func (c *conn) stalled(now int64) bool {
	return c.queued.Load() > 0 && now-c.movedAt.Load() >= int64(c.g.opts.UnreadGrace)
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
// bytes queued among the stalled ones of peers that are not exempt (nil
// if there is none).
func (s *heldSet) mostQueued() *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now().UnixNano()
	var best *conn
	for _, q := range s.byPeer {
		for _, c := range q {
			if !c.held.exempt && c.stalled(now) && (best == nil || c.queued.Load() > best.queued.Load()) {
				best = c
			}
		}
	}
	if best != nil {
		s.removeLocked(best)
	}
	return best
}
