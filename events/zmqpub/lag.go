package zmqpub

import (
	"github.com/poold/poold/events/zmqguard"
)

// Subscribers lists the Publisher's connected subscribers, the most
// behind first: for each, who it is, the bytes queued for it and the
// messages it lost (zmqguard.ConnStat). A subscriber that reads more
// slowly than poold publishes falls behind by up to the guard's
// MaxBuffered (4 MiB: about 25,000 lifecycle events) before it loses a
// message. Safe to call from any goroutine.
func (p *Publisher) Subscribers() []zmqguard.ConnStat {
	return p.guard.ConnStats()
}

// reportLag logs at warn, with its address, each subscriber that lost
// messages since the last report (prev: each one's Dropped then) or has
// more than half of MaxBuffered queued, and returns the new counts. The
// loss counters (reportLoss) say how much was lost; this says by whom.
func (p *Publisher) reportLag(prev map[uint64]uint64) map[uint64]uint64 {
	half := int64(p.guard.Options().MaxBuffered / 2)
	cur := make(map[uint64]uint64, len(prev))
	for _, s := range p.Subscribers() {
		cur[s.ID] = s.Dropped
		lost := s.Dropped - min(prev[s.ID], s.Dropped)
		if lost == 0 && s.Queued < half {
			continue
		}
		p.log.Warn("subscriber falls behind: it reads more slowly than poold publishes",
			"endpoint", p.Endpoint(), "peer", s.Peer.String(),
			"queued_bytes", s.Queued, "dropped", lost, "dropped_total", s.Dropped, "connected", s.Since.Format("15:04:05"),
			"fix", "make that subscriber read faster or subscribe to fewer topics; what it lost is in events_since while the history holds it")
	}
	return cur
}
