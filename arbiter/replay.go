package arbiter

import (
	"github.com/poold/poold/events"
)

// maxReplayLimit caps the events one events_since reply carries, so a
// reply stays well under a megabyte or two; a client pages with through.
const maxReplayLimit = 5000

// cmdEventsSince is poold's addition to the command set: the recent events
// kept on the event bus (the [arbiter] event_history) with a seq above
// seq, as they were published on the event stream. Properties: seq
// (required, >= 0; 0 = everything kept), limit (default 1000, at most
// 5000), topics (topic prefixes, default all). Reply: events [{topic,
// event}] oldest first, through, oldest, complete, more, instance (see
// events.Replay).
//
// A subscriber that must miss nothing subscribes to the event stream
// first, then asks events_since, then prints live events above through;
// whenever a live event's seq jumps past the last one printed, it asks
// again from there (PROTOCOL.md, "Replaying events").
func cmdEventsSince(a *Arbiter, m *cmdMsg) error {
	p := m.props()
	if !p.has("seq") {
		return errorf(ErrnoBadProperty, `events_since: property "seq" is required: the last seq you have seen, or 0 for every event poold kept`)
	}
	seq, err := p.integer("seq", 0)
	if err != nil {
		return err
	}
	if seq < 0 {
		return errorf(ErrnoBadProperty, "events_since: seq must be >= 0, got %d", seq)
	}
	limit, err := p.integer("limit", events.DefaultReplayLimit)
	if err != nil {
		return err
	}
	if limit < 1 || limit > maxReplayLimit {
		return errorf(ErrnoBadProperty, "events_since: limit must be 1..%d, got %d", maxReplayLimit, limit)
	}
	topics, err := p.strings("topics")
	if err != nil {
		return err
	}
	r := a.bus.Since(uint64(seq), limit, topics...)
	// Encoding the payloads is the caller's work, off the loop.
	deferReply(m, func() (map[string]any, error) {
		evs := make([]map[string]any, len(r.Events))
		for i, ev := range r.Events {
			evs[i] = map[string]any{"topic": ev.Topic, "event": ev.Payload()}
		}
		return map[string]any{
			"events": evs, "through": r.Through, "oldest": r.Oldest,
			"complete": r.Complete, "more": r.More, "instance": r.Instance,
		}, nil
	})
	return nil
}
