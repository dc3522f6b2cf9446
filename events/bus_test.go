package events

import (
	"encoding/json"
	"testing"
	"time"
)

func TestPublishStampsSeqAndTopic(t *testing.T) {
	now := time.Unix(1700000000, 500_000_000)
	b := NewBus(func() time.Time { return now })
	s := b.Subscribe(10)
	defer s.Close()
	b.Publish("My Web", KindSpawn, map[string]any{"process_pid": 12, "process_id": 1})
	b.Publish("", KindReloadConfig, nil)
	ev := <-s.C()
	if ev.Topic != "watcher.my_web.spawn" || ev.Seq != 1 || ev.Kind != KindSpawn || ev.Watcher != "My Web" {
		t.Fatalf("first event %+v", ev)
	}
	var p map[string]any
	if err := json.Unmarshal(ev.MarshalPayload(), &p); err != nil {
		t.Fatal(err)
	}
	if p["process_pid"] != 12.0 || p["seq"] != 1.0 || p["time"] != 1700000000.5 {
		t.Errorf("payload %v", p)
	}
	if ev := <-s.C(); ev.Topic != "arbiter.reloadconfig" || ev.Seq != 2 {
		t.Errorf("second event %+v", ev)
	}
}

func TestFullSubscriberDropsAndCountsWithoutBlocking(t *testing.T) {
	b := NewBus(nil)
	slow := b.Subscribe(2)
	fast := b.Subscribe(100)
	defer slow.Close()
	defer fast.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 50; i++ {
			b.Publish("w", KindSpawn, nil)
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Publish blocked on a full subscriber")
	}
	if slow.Dropped() != 48 || fast.Dropped() != 0 {
		t.Errorf("dropped: slow %d (want 48), fast %d (want 0)", slow.Dropped(), fast.Dropped())
	}
	var last uint64
	for i := 0; i < 50; i++ {
		ev := <-fast.C()
		if ev.Seq != last+1 {
			t.Fatalf("seq gap: %d after %d", ev.Seq, last)
		}
		last = ev.Seq
	}
}

func TestPrefixFilterAndClose(t *testing.T) {
	b := NewBus(nil)
	s := b.Subscribe(10, "watcher.web.", "arbiter.")
	b.Publish("web", KindReap, nil)
	b.Publish("api", KindReap, nil)
	b.Publish("", KindStop, nil)
	s.Close()
	s.Close() // twice is fine
	var got []string
	for ev := range s.C() {
		got = append(got, ev.Topic)
	}
	if len(got) != 2 || got[0] != "watcher.web.reap" || got[1] != "arbiter.stop" {
		t.Errorf("got %v", got)
	}
	b.Publish("web", KindSpawn, nil) // after Close: not delivered, no panic
}
