package events

// Handing the bus over to a new image of poold (in-place upgrade): the new
// image continues the seq where the old one stopped, and keeps the old
// one's recent events for replay, so a subscriber sees no gap.

// Snapshot returns the bus's last seq and its kept events, oldest first.
func (b *Bus) Snapshot() (seq uint64, kept []Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	kept = make([]Event, 0, b.hist.n)
	for i := 0; i < b.hist.n; i++ {
		kept = append(kept, *b.hist.at(i))
	}
	return b.seq, kept
}

// Restore makes a bus that has published nothing continue at seq, with
// kept (from Snapshot) as its history, up to its KeepHistory size.
func (b *Bus) Restore(seq uint64, kept []Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seq = seq
	for _, ev := range kept {
		b.hist.add(ev)
	}
}
