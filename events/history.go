package events

// DefaultHistory is the number of recent events poold keeps on its event
// bus for replay ([arbiter] event_history).
const DefaultHistory = 1024

// DefaultReplayLimit bounds the events one Since call returns when the
// caller asks for no limit.
const DefaultReplayLimit = 1000

// history is a ring of the most recent events of a Bus, oldest first.
// It is guarded by Bus.mu: an event enters the ring in the same critical
// section that gives it its seq, so the ring is always a gap-free run of
// seqs ending at the bus's last one.
type history struct {
	buf   []Event
	start int // index of the oldest event
	n     int // events held
}

func (h *history) add(ev Event) {
	if len(h.buf) == 0 {
		return
	}
	if h.n < len(h.buf) {
		h.buf[(h.start+h.n)%len(h.buf)] = ev
		h.n++
		return
	}
	h.buf[h.start] = ev
	h.start = (h.start + 1) % len(h.buf)
}

func (h *history) at(i int) *Event { return &h.buf[(h.start+i)%len(h.buf)] }

// resize keeps the newest min(n, held) events in a ring of n.
func (h *history) resize(n int) {
	keep := min(h.n, max(n, 0))
	buf := make([]Event, max(n, 0))
	for i := 0; i < keep; i++ {
		buf[i] = *h.at(h.n - keep + i)
	}
	h.buf, h.start, h.n = buf, 0, keep
}

// Replay is a slice of a bus's history (see Bus.Since).
type Replay struct {
	// Events are the kept events with a seq above the one asked for that
	// match the prefixes, oldest first, at most the limit.
	Events []Event
	// Through is the seq up to which Events are exhaustive: every matching
	// event with a seq in (asked, Through] is in Events, provided Complete.
	// It is the bus's last seq, or the last returned event's when More.
	// Ask again with Through to continue.
	Through uint64
	// Oldest is the seq of the oldest event still kept, 0 when none is.
	Oldest uint64
	// Complete is false when events after the asked seq were already
	// evicted from the history (or it keeps none): then Events start with
	// a gap, and the caller should say so.
	Complete bool
	// More is true when the limit cut the reply short.
	More bool
	// Instance is the bus's instance (SetInstance): a caller whose last
	// seq came from another instance asks again from 0.
	Instance string
}

// KeepHistory makes the bus keep its n most recent events for Since
// (0 keeps none, the default). Events already kept stay, up to n.
func (b *Bus) KeepHistory(n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.hist.resize(n)
}

// HistorySize is how many events the bus keeps (KeepHistory).
func (b *Bus) HistorySize() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.hist.buf)
}

// Since returns the kept events with a seq greater than seq whose topic
// starts with one of prefixes (all when none are given), oldest first,
// at most limit of them (DefaultReplayLimit when limit <= 0).
//
// A subscriber that must miss nothing and see nothing twice subscribes
// first, then calls Since, then takes from its subscription only events
// with a seq above Through: every event published after Subscribe reaches
// the subscription, and every one published before Since is in the
// history if it is still kept, so the two overlap and together leave no
// gap (unless Complete is false or the subscription dropped events, both
// of which it can see). A subscriber that must not skip an event the
// history no longer holds (a small or no history, a burst) reads Through
// once right after Subscribe and takes from later Since calls only what
// lies up to it (web's event stream does).
func (b *Bus) Since(seq uint64, limit int, prefixes ...string) Replay {
	if limit <= 0 {
		limit = DefaultReplayLimit
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	r := Replay{Through: b.seq, Instance: b.instance}
	if b.hist.n > 0 {
		r.Oldest = b.hist.at(0).Seq
	}
	if seq >= b.seq {
		// Nothing newer (or a seq of an earlier poold: seqs start again
		// at 1 when poold restarts, which a caller sees as seq > Through).
		r.Complete = true
		return r
	}
	r.Complete = r.Oldest != 0 && r.Oldest <= seq+1
	match := Subscription{prefix: prefixes}
	// Seqs in the ring are consecutive: skip straight to the first one
	// above seq.
	first := 0
	if r.Oldest != 0 && seq >= r.Oldest {
		first = int(seq - r.Oldest + 1)
	}
	for i := first; i < b.hist.n; i++ {
		ev := b.hist.at(i)
		if !match.wants(ev.Topic) {
			continue
		}
		if len(r.Events) == limit {
			r.More = true
			r.Through = r.Events[len(r.Events)-1].Seq
			break
		}
		r.Events = append(r.Events, *ev)
	}
	return r
}
