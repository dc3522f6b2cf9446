package zmqguard

import (
	"cmp"
	"slices"
	"time"
)

// ConnStat is one open connection's backlog: what the guard holds for its
// peer and what the peer lost. On a PUB, a subscriber that reads, but
// more slowly than poold publishes, shows here long before it loses a
// message: its Queued grows towards Options.MaxBuffered, then its Dropped
// grows.
type ConnStat struct {
	// ID names the connection for as long as it is open (and is never
	// reused by the Guard).
	ID    uint64
	Peer  Peer      // who (SO_PEERCRED on ipc, the address on tcp)
	Since time.Time // when its handshake completed
	// Queued is the bytes queued for the peer and not yet written to its
	// socket (at most about twice MaxBuffered: then it is evicted).
	Queued int64
	// Dropped counts the messages the peer never got from the guard:
	// refused while its buffer was full, or still buffered when its
	// connection ended (as Stats.Dropped counts them for all peers).
	Dropped uint64
}

// ConnStats lists g's open accepted connections, the most queued first.
// Safe for concurrent use.
func (g *Guard) ConnStats() []ConnStat {
	conns := g.held.all()
	out := make([]ConnStat, 0, len(conns))
	for _, c := range conns {
		out = append(out, ConnStat{ID: c.held.seq, Peer: c.who, Since: c.since,
			Queued: c.queued.Load(), Dropped: c.dropCount.Load()})
	}
	slices.SortFunc(out, func(a, b ConnStat) int {
		if a.Queued != b.Queued {
			return cmp.Compare(b.Queued, a.Queued)
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out
}
