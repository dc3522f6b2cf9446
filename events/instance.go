package events

import (
	"crypto/rand"
	"encoding/hex"
)

// NewInstance returns a new instance id for a Bus (SetInstance): 12 hex
// digits, random, so that two runs of poold (or two pollds on one host)
// never share one. A subscriber compares it for equality only.
func NewInstance() string {
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// SetInstance names the poold publishing on b: every event published from
// now on carries id (Event.Instance, the payload's instance key). poold
// gives its event bus a new id when it starts and the previous image's
// when an in-place upgrade hands the bus over (its seq goes on too), so a
// subscriber that sees the instance change knows seq started again.
func (b *Bus) SetInstance(id string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.instance = id
}

// Position returns the seq of the last event published on b (0 before
// any) and b's instance. A reply built on the arbiter's loop, which
// publishes the lifecycle events, reflects every event up to that seq and
// none after it: a subscriber joins such a snapshot to the stream by
// applying only the events with a greater seq, of the same instance.
func (b *Bus) Position() (seq uint64, instance string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.seq, b.instance
}
