package events

import (
	"sync"
	"testing"
)

func seqs(evs []Event) []uint64 {
	out := make([]uint64, len(evs))
	for i, ev := range evs {
		out[i] = ev.Seq
	}
	return out
}

func consecutive(t *testing.T, got []uint64, from, to uint64) {
	t.Helper()
	if len(got) != int(to-from+1) {
		t.Fatalf("got %d seqs %v, want %d..%d", len(got), got, from, to)
	}
	for i, s := range got {
		if s != from+uint64(i) {
			t.Fatalf("seq %d at %d, want %d (got %v)", s, i, from+uint64(i), got)
		}
	}
}

func TestHistorySince(t *testing.T) {
	b := NewBus(nil)
	b.KeepHistory(10)
	for i := 0; i < 25; i++ {
		b.Publish("web", KindSpawn, nil)
	}
	tests := []struct {
		name           string
		since          uint64
		limit          int
		from, to       uint64
		complete, more bool
		through        uint64
	}{
		{"from the middle", 20, 0, 21, 25, true, false, 25},
		{"oldest kept is the next", 15, 0, 16, 25, true, false, 25},
		{"evicted: gap", 3, 0, 16, 25, false, false, 25},
		{"nothing newer", 25, 0, 1, 0, true, false, 25},
		{"beyond the last seq", 1 << 40, 0, 1, 0, true, false, 25},
		{"limit pages", 17, 3, 18, 20, true, true, 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := b.Since(tt.since, tt.limit)
			if tt.to >= tt.from {
				consecutive(t, seqs(r.Events), tt.from, tt.to)
			} else if len(r.Events) != 0 {
				t.Fatalf("events %v, want none", seqs(r.Events))
			}
			if r.Complete != tt.complete || r.More != tt.more || r.Through != tt.through || r.Oldest != 16 {
				t.Errorf("complete=%v more=%v through=%d oldest=%d, want %v %v %d 16", r.Complete, r.More, r.Through, r.Oldest, tt.complete, tt.more, tt.through)
			}
		})
	}
}

func TestHistoryFiltersAndResizes(t *testing.T) {
	b := NewBus(nil)
	if r := b.Since(0, 0); !r.Complete || len(r.Events) != 0 {
		t.Fatalf("empty bus: %+v", r)
	}
	b.Publish("web", KindSpawn, nil)
	if r := b.Since(0, 0); r.Complete {
		t.Fatalf("a bus that keeps no history cannot be complete: %+v", r)
	}
	b.KeepHistory(4)
	for _, w := range []string{"web", "api", "web", "api", "web"} {
		b.Publish(w, KindReap, nil)
	}
	r := b.Since(0, 0, "watcher.web.")
	if got := seqs(r.Events); len(got) != 2 || got[0] != 4 || got[1] != 6 {
		t.Errorf("web events %v, want [4 6]", got)
	}
	b.KeepHistory(2)
	consecutive(t, seqs(b.Since(0, 0).Events), 5, 6)
	b.KeepHistory(8)
	b.Publish("web", KindReap, nil)
	consecutive(t, seqs(b.Since(0, 0).Events), 5, 7)
}

// TestSubscribeThenSinceHasNoGap is the replay recipe of Since under a
// concurrent burst: subscribe in the middle of it, fetch the history from a
// seq in the middle, then take live events above Through. The result is
// every event from that seq on, once each.
func TestSubscribeThenSinceHasNoGap(t *testing.T) {
	const total = 20000
	b := NewBus(nil)
	b.KeepHistory(total)
	mid := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 1; i <= total; i++ {
			b.Publish("web", KindSpawn, nil)
			if i == total/2 {
				close(mid)
			}
		}
	}()
	<-mid
	sub := b.Subscribe(total)
	defer sub.Close()
	since := uint64(total / 4)
	var got []uint64
	last := since
	for {
		r := b.Since(last, 0)
		got = append(got, seqs(r.Events)...)
		last = r.Through
		if !r.More {
			break
		}
	}
	for last < total {
		ev := <-sub.C()
		if ev.Seq <= last {
			continue
		}
		got = append(got, ev.Seq)
		last = ev.Seq
	}
	wg.Wait()
	consecutive(t, got, since+1, total)
	if sub.Dropped() != 0 {
		t.Fatalf("subscription dropped %d", sub.Dropped())
	}
}
