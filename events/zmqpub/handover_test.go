package zmqpub

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/events"
	"github.com/poold/poold/events/zmqguard"
)

// inheritTCP hands a fresh loopback listener to the next Listen on its
// address, as an upgrade does, with the previous image's peer count, and
// returns the endpoint.
func inheritTCP(t *testing.T, peers int64) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	zmqguard.Inherit("tcp", addr, ln)
	zmqguard.ExpectPeers("tcp", addr, peers)
	return "tcp://" + addr
}

// After an in-place upgrade the subscribers' connections closed in the
// exec and reconnect by themselves; the new image's first event
// (arbiter.upgrade) was published before they were back, and a PUB drops
// what nobody is subscribed to. The publisher holds it until as many
// subscribers as the old image had have subscribed again.
func TestUpgradeHoldsFirstEventsForReturningSubscribers(t *testing.T) {
	checkLeaks(t)
	bus := events.NewBus(fixedClock)
	ep := inheritTCP(t, 2)
	p := New(ep, bus, testLogger(t, nil))
	startPublisher(t, p)
	bus.PublishTopic("arbiter.upgrade", "", events.KindUpgrade, map[string]any{"outcome": "upgraded"})
	// The subscribers come back only once Run has met the event: it
	// either holds it or found nobody to send it to.
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for deadline := time.Now().Add(hang); !p.holding.Load() && p.unheard.Load() == 0; <-tick.C {
		if time.Now().After(deadline) {
			t.Fatal("Run neither held nor skipped the event")
		}
	}

	subs := []*Subscriber{dial(t, ep, "arbiter."), dial(t, ep, "")}
	for i, s := range subs {
		ctx, cancel := context.WithTimeout(context.Background(), hang)
		topic, payload, err := s.Recv(ctx)
		cancel()
		if err != nil {
			t.Fatalf("subscriber %d: the new image's first event never came: %v", i, err)
		}
		if topic != "arbiter.upgrade" || payload["outcome"] != "upgraded" {
			t.Fatalf("subscriber %d: got %s %v, want arbiter.upgrade first", i, topic, payload)
		}
	}
}

// A subscriber of the old image that does not come back holds the events
// no longer than the wait's bound.
func TestUpgradeWaitForSubscribersIsBounded(t *testing.T) {
	checkLeaks(t)
	bus := events.NewBus(fixedClock)
	ep := inheritTCP(t, 5)
	out := &syncBuffer{}
	p := New(ep, bus, testLogger(t, out), WithPeerWait(50*time.Millisecond))
	startPublisher(t, p)
	s := dial(t, ep, "")
	join(t, bus, s, "arbiter.probe")
	if want := "publishing without waiting longer"; !strings.Contains(out.String(), want) {
		t.Errorf("log lacks %q:\n%s", want, out)
	}
}

// An image upgraded again while it still waits for the previous image's
// subscribers flushes what it holds before the exec: the subscribers that
// are back get its first events (arbiter.upgrade) instead of a gap in
// seq. Without Flush they died with the image in the exec.
func TestFlushSendsHeldEventsBeforeAnotherUpgrade(t *testing.T) {
	checkLeaks(t)
	bus := events.NewBus(fixedClock)
	ep := inheritTCP(t, 2) // one of the two never comes back
	p := New(ep, bus, testLogger(t, nil), WithPeerWait(10*time.Minute))
	startPublisher(t, p)
	s := dial(t, ep, "arbiter.")
	bus.PublishTopic("arbiter.upgrade", "", events.KindUpgrade, map[string]any{"outcome": "upgraded"})
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	// Held, with the subscriber that is back subscribed.
	for deadline := time.Now().Add(hang); !p.holding.Load() || p.guard.Spoke() < 1; <-tick.C {
		if time.Now().After(deadline) {
			t.Fatalf("Run did not hold the event with one subscriber back (holding %v, back %d)", p.holding.Load(), p.guard.Spoke())
		}
	}
	fctx, fcancel := context.WithTimeout(context.Background(), hang)
	p.Flush(fctx)
	fcancel()
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	topic, payload, err := s.Recv(ctx)
	if err != nil {
		t.Fatalf("the held arbiter.upgrade never came after Flush: %v", err)
	}
	if topic != "arbiter.upgrade" || payload["outcome"] != "upgraded" {
		t.Fatalf("got %s %v, want arbiter.upgrade", topic, payload)
	}
}
