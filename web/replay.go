package web

import (
	"strconv"

	"github.com/poold/poold/events"
)

// maxResume bounds the events a reconnecting console gets back.
const maxResume = 2000

// The console replays from the event bus's history (events.Bus.Since):
//
//   - at start, the hub subscribes, then reads the bus's last seq into
//     sent: everything after it reaches the subscription, everything up
//     to it is in the history;
//   - each broadcast of events moves sent to the last one broadcast;
//   - a console that connects gets, in its hello, the history up to sent
//     (the last recentEvents of it, or everything after ?since=SEQ when
//     it reconnects), and every broadcast after that: no gap, and no
//     event twice;
//   - events the hub's own subscription dropped are taken back from the
//     history before the next live one.
//
// Without a history (a bus that keeps none) the hub's own recent list
// stands in, cut at sent.

// sinceParam reads a console's ?since=SEQ (0 when absent or bad).
func sinceParam(v string) uint64 {
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// startReplay records where the history ends and the subscription
// begins; call it right after subscribing.
func (h *hub) startReplay() {
	if b := h.s.opts.Events; b != nil {
		h.sent = b.Since(^uint64(0), 1).Through
		h.lastSeq = h.sent
	}
}

// helloEvents are the events a new console starts from; resumed is true
// when they continue from its since without a gap.
func (h *hub) helloEvents(since uint64) (evs []wireEvent, resumed bool) {
	b := h.s.opts.Events
	if b == nil {
		return h.recentUpTo(h.sent), false
	}
	from, limit := uint64(0), h.t.recentEvents
	if since > 0 && since <= h.sent {
		from, limit = since, maxResume
	} else if h.sent > uint64(limit) {
		from = h.sent - uint64(limit)
	}
	r := b.Since(from, limit, "watcher.", "arbiter.")
	if len(r.Events) == 0 && !r.Complete {
		return h.recentUpTo(h.sent), false
	}
	for _, ev := range r.Events {
		if ev.Seq > h.sent {
			break
		}
		evs = append(evs, h.wire(ev))
	}
	return evs, since > 0 && since == from && r.Complete && !r.More
}

func (h *hub) recentUpTo(seq uint64) []wireEvent {
	out := make([]wireEvent, 0, len(h.recent))
	for _, we := range h.recent {
		if we.Seq <= seq {
			out = append(out, we)
		}
	}
	return out
}

// refill takes back from the history the events the subscription dropped
// before ev (the hub's seq jumped); it returns them oldest first.
func (h *hub) refill(ev events.Event) []events.Event {
	b := h.s.opts.Events
	if b == nil || h.lastSeq == 0 || ev.Seq <= h.lastSeq+1 {
		return nil
	}
	var out []events.Event
	for _, e := range b.Since(h.lastSeq, maxResume, "watcher.", "arbiter.").Events {
		if e.Seq >= ev.Seq {
			break
		}
		out = append(out, e)
	}
	return out
}
