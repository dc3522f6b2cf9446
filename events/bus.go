package events

import (
	"sync"
	"sync/atomic"
	"time"
)

// DefaultQueue is the queue length of a subscriber that asks for none.
const DefaultQueue = 4096

// Bus fans published events out to subscribers without ever blocking the
// publisher.
type Bus struct {
	mu   sync.Mutex
	seq  uint64
	subs map[*Subscription]struct{}
	now  func() time.Time
	hist history // recent events for Since (KeepHistory)
	// instance names the poold publishing (SetInstance); "" for none.
	instance string
}

// NewBus returns an empty bus. now may be nil (time.Now).
func NewBus(now func() time.Time) *Bus {
	if now == nil {
		now = time.Now
	}
	return &Bus{subs: make(map[*Subscription]struct{}), now: now}
}

// Subscription is one subscriber's bounded queue.
type Subscription struct {
	bus     *Bus
	c       chan Event
	dropped atomic.Uint64
	prefix  []string
	once    sync.Once
}

// Subscribe adds a subscriber with a queue of n events (DefaultQueue when
// n <= 0). If prefixes are given, only events whose topic starts with one
// of them are queued.
func (b *Bus) Subscribe(n int, prefixes ...string) *Subscription {
	if n <= 0 {
		n = DefaultQueue
	}
	s := &Subscription{bus: b, c: make(chan Event, n), prefix: prefixes}
	b.mu.Lock()
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	return s
}

// C delivers the events. It is closed by Close.
func (s *Subscription) C() <-chan Event { return s.c }

// Dropped counts the events this subscriber lost because its queue was full.
func (s *Subscription) Dropped() uint64 { return s.dropped.Load() }

// Close removes the subscription and closes C. Safe to call more than once.
func (s *Subscription) Close() {
	s.once.Do(func() {
		s.bus.mu.Lock()
		delete(s.bus.subs, s)
		close(s.c)
		s.bus.mu.Unlock()
	})
}

func (s *Subscription) wants(topic string) bool {
	if len(s.prefix) == 0 {
		return true
	}
	for _, p := range s.prefix {
		if len(topic) >= len(p) && topic[:len(p)] == p {
			return true
		}
	}
	return false
}

// Publish stamps an event with the next seq and the time and offers it to
// every subscriber. watcher is "" for arbiter-level events, whose topic is
// "arbiter.<kind>". It returns the event as delivered.
func (b *Bus) Publish(watcher string, kind Kind, fields map[string]any) Event {
	topic := "arbiter." + string(kind)
	if watcher != "" {
		topic = WatcherTopic(watcher, kind)
	}
	return b.PublishTopic(topic, watcher, kind, fields)
}

// PublishTopic publishes with an explicit topic (used by the stats bus).
func (b *Bus) PublishTopic(topic, watcher string, kind Kind, fields map[string]any) Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seq++
	ev := Event{Seq: b.seq, Time: b.now(), Topic: topic, Watcher: watcher, Kind: kind, Fields: fields, Instance: b.instance}
	b.hist.add(ev)
	for s := range b.subs {
		if !s.wants(topic) {
			continue
		}
		select {
		case s.c <- ev:
		default:
			s.dropped.Add(1)
		}
	}
	return ev
}
