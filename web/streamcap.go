package web

import (
	"fmt"
	"net/http"
	"sync"
)

// Streams (GET /api/v1/events and Options.Streams, a console's
// websocket) stay open for as long as their client likes, and each keeps
// its connection busy, which the listener's bound (connlimit.go) never
// closes to make room. Without a bound of their own, one holder of a
// read-only token could fill the listener with streams and lock every
// operator out. So streams are bounded:
//
//   - per token (the console's websocket counts as web.token's) and per
//     client address (clientKey: every loopback address is one), to
//     maxStreamsPerKey each;
//   - in all, to three quarters of the listener's bound: a quarter is
//     left for requests (an operator's API call, a probe, a new console's
//     page), whatever the streams.
//
// At its token's bound a newcomer is refused (429, with the reason). At
// the address's bound or the total, a newcomer whose token holds fewer
// streams there than the token holding the most takes room from that
// one: its newest stream is closed (evicted). So no token keeps another's
// streams out: an operator's console gets in past a crowd of a
// dashboard's streams, and the dashboard's next one is refused.

// maxStreamsPerKey is the bound of one token's, and one address's,
// streams: far more consoles and dashboards than anyone keeps open on
// one poold.
const maxStreamsPerKey = 64

// streamSlots counts the streams open. Safe for concurrent use.
type streamSlots struct {
	mu   sync.Mutex
	seq  uint64
	open map[*streamSlot]struct{}
}

// streamSlot is one open stream's place; release gives it back.
type streamSlot struct {
	token, addr string
	seq         uint64
	// evicted is closed when the stream is closed to make room: its
	// handler ends it.
	evicted chan struct{}
	s       *streamSlots
}

// take admits a stream of token from addr, with at most perKey per
// token and per address and total in all; it returns the slot and the
// stream it evicted to make room (nil if none), or the refusal.
func (s *streamSlots) take(token, addr string, perKey, total int) (slot, evicted *streamSlot, refused string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.open == nil {
		s.open = map[*streamSlot]struct{}{}
	}
	mine := s.count(func(o *streamSlot) bool { return o.token == token })
	if mine >= perKey {
		return nil, nil, fmt.Sprintf("too many streams: this token has %d open (event streams and consoles), the most one token may hold; close one, or give each dashboard a token of its own", mine)
	}
	fromAddr := func(o *streamSlot) bool { return o.addr == addr }
	if n := s.count(fromAddr); n >= perKey {
		if evicted = s.evictFor(token, fromAddr); evicted == nil {
			return nil, nil, fmt.Sprintf("too many streams from %s: %d are open from there, the most one address may hold, and this token holds the most of them; close one", addr, n)
		}
	}
	if evicted == nil && len(s.open) >= total {
		if evicted = s.evictFor(token, func(*streamSlot) bool { return true }); evicted == nil {
			return nil, nil, fmt.Sprintf("too many streams: %d are open, the most this listener gives streams (three quarters of its connections), and this token holds the most of them; close one", len(s.open))
		}
	}
	s.seq++
	slot = &streamSlot{token: token, addr: addr, seq: s.seq, evicted: make(chan struct{}), s: s}
	s.open[slot] = struct{}{}
	return slot, evicted, ""
}

// count is how many open streams match in.
func (s *streamSlots) count(in func(*streamSlot) bool) int {
	n := 0
	for o := range s.open {
		if in(o) {
			n++
		}
	}
	return n
}

// evictFor closes, of the streams in, the newest of the token holding
// the most of them, if it holds more than token would with one more
// (else the two would take the room from each other in turn); nil when
// none is.
func (s *streamSlots) evictFor(token string, in func(*streamSlot) bool) *streamSlot {
	per := map[string]int{}
	top := ""
	for o := range s.open {
		if in(o) {
			per[o.token]++
			if per[o.token] > per[top] {
				top = o.token
			}
		}
	}
	if top == token || per[top] <= per[token]+1 {
		return nil
	}
	var victim *streamSlot
	for o := range s.open {
		if in(o) && o.token == top && (victim == nil || o.seq > victim.seq) {
			victim = o
		}
	}
	delete(s.open, victim)
	close(victim.evicted)
	return victim
}

// release gives the slot back (once it is evicted, it was already).
func (sl *streamSlot) release() {
	sl.s.mu.Lock()
	delete(sl.s.open, sl)
	sl.s.mu.Unlock()
}

// holdStream admits a stream for r of the token named tokName, or
// answers 429 through refuse and returns nil. The caller releases the
// slot when the stream ends, and ends it when the slot's evicted closes.
func (s *Server) holdStream(r *http.Request, tokName string, refuse func(reason string)) *streamSlot {
	key := clientKey(r)
	total := s.tunings.maxConns - s.tunings.maxConns/4
	slot, evicted, why := s.streamSlots.take(tokName, key, s.tunings.streamsPerKey, total)
	if slot == nil {
		s.quiet.Warn("stream "+key, "stream refused: too many open", "token", tokName, "remote", r.RemoteAddr, "path", r.URL.Path, "reason", why)
		refuse(why)
		return nil
	}
	if evicted != nil {
		s.quiet.Warn("evict "+evicted.token, "stream closed to make room for another token's", "token", evicted.token, "address", evicted.addr,
			"for_token", tokName, "for_remote", r.RemoteAddr)
	}
	return slot
}
