package web

import (
	"context"
	"encoding/json"
	"net"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/web/remote"
)

const streamToken = "stream-token-0123456789"

// openEvents opens GET /api/v1/events on a server whose bus keeps
// history events, resuming after since (-1: live only).
func openEvents(t *testing.T, ts *testServer, since int64) *remote.Stream {
	t.Helper()
	c, err := remote.New(remote.Options{URL: ts.url, Token: streamToken})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	st, err := c.Events(context.Background(), nil, since)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func streamServer(t *testing.T, history int) *testServer {
	t.Helper()
	fake := newFakeBackend(t, map[string]int{})
	fake.Events.KeepHistory(history)
	cfg := configs.Web{Tokens: []configs.APIToken{{Role: configs.RoleReadOnly, File: "ro.token", Token: streamToken}}}
	return startServer(t, fake, cfg, nil)
}

// streamFrame is one event of the stream: a lifecycle event (seq) or a
// gap (from, to).
type streamFrame struct {
	seq, from, to uint64
}

func nextFrame(t *testing.T, ctx context.Context, st *remote.Stream) streamFrame {
	t.Helper()
	ev, err := st.Recv(ctx)
	if err != nil {
		t.Fatalf("event stream: %v", err)
	}
	if ev.Name == "gap" {
		var g struct{ From, To uint64 }
		if err := json.Unmarshal(ev.Data, &g); err != nil {
			t.Fatalf("gap %s: %v", ev.Data, err)
		}
		return streamFrame{from: g.From, to: g.To}
	}
	seq, err := strconv.ParseUint(ev.ID, 10, 64)
	if err != nil {
		t.Fatalf("event id %q: %v", ev.ID, err)
	}
	return streamFrame{seq: seq}
}

// TestEventStreamReportsWhatItsHistoryCannotFill: a stream resumed with
// since=SEQ from a poold whose bus keeps no history (event_history = 0)
// went live without a word about the events it could not replay. It
// says "gap" for them now, as it does when the history has rotated past.
func TestEventStreamReportsWhatItsHistoryCannotFill(t *testing.T) {
	t.Parallel()
	for _, history := range []int{0, 2} {
		t.Run("history="+strconv.Itoa(history), func(t *testing.T) {
			ts := streamServer(t, history)
			for range 5 {
				ts.fake.Events.Publish("web", events.KindSpawn, nil)
			}
			st := openEvents(t, ts, 1)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var got []streamFrame
			for len(got) == 0 || max(got[len(got)-1].seq, got[len(got)-1].to) < 5 {
				got = append(got, nextFrame(t, ctx, st))
			}
			// Events 2..5 are gone, all of them or all but the last two.
			want := []streamFrame{{from: 2, to: 5}}
			if history == 2 {
				want = []streamFrame{{from: 2, to: 3}, {seq: 4}, {seq: 5}}
			}
			if len(got) != len(want) {
				t.Fatalf("stream after since=1: %+v, want %+v", got, want)
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("stream after since=1: %+v, want %+v", got, want)
				}
			}
		})
	}
}

// TestEventStreamMissesNothingPublishedWhileItOpens: events published
// between the stream's subscription and its replay were dropped
// unannounced when the bus kept too little history to replay them
// (event_history = 0, or a burst larger than it): the replay moved past
// them and the subscription's copies were then skipped as already sent.
// A resumed stream now goes on from its since with no hole: every seq
// comes, as an event or inside a gap.
func TestEventStreamMissesNothingPublishedWhileItOpens(t *testing.T) {
	t.Parallel()
	for _, history := range []int{0, 1, 8} {
		t.Run("history="+strconv.Itoa(history), func(t *testing.T) {
			ts := streamServer(t, history)
			bus := ts.fake.Events
			since := bus.Publish("web", events.KindSpawn, nil).Seq
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { // publishes while the stream opens and replays
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
						bus.Publish("web", events.KindSpawn, nil)
						runtime.Gosched()
					}
				}
			}()
			halt := sync.OnceFunc(func() { close(stop); wg.Wait() })
			defer halt()
			st := openEvents(t, ts, int64(since))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			next, final := since+1, uint64(0)
			for final == 0 || next <= final {
				f := nextFrame(t, ctx, st)
				switch {
				case f.seq == 0 && f.from == next && f.to >= f.from:
					next = f.to + 1
				case f.seq == next:
					next++
				default:
					t.Fatalf("after seq %d the stream sent %+v: a hole or a repeat", next-1, f)
				}
				if final == 0 { // the stream is live: one last event ends it
					halt()
					final = bus.Publish("web", events.KindReap, nil).Seq
				}
			}
		})
	}
}

// TestEventStreamSendsItsQueueWhenPooldStops: when poold stopped, an API
// event stream ended as soon as its request's context did, and the
// events already queued for it (the shutdown's own, arbiter.stop among
// them) were lost at random, with no gap: 4 of 5 streams in a review.
// What is queued goes out before the stream ends.
func TestEventStreamSendsItsQueueWhenPooldStops(t *testing.T) {
	t.Parallel()
	fake := newFakeBackend(t, map[string]int{})
	fake.Events.KeepHistory(0)
	cfg := configs.Web{Tokens: []configs.APIToken{{Role: configs.RoleReadOnly, File: "ro.token", Token: streamToken}}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Address = l.Addr().String()
	s, err := New(Options{Config: cfg, Backend: fake, Events: fake.Events, Stats: fake.Stats, Log: hclog.NewNullLogger()})
	if err != nil {
		t.Fatal(err)
	}
	stop := runServer(t, s, l)
	st := openEvents(t, &testServer{Server: s, fake: fake, addr: cfg.Address, url: "http://" + cfg.Address}, -1)
	var last uint64
	for range 200 {
		last = fake.Events.Publish("web", events.KindStop, nil).Seq
	}
	stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got uint64
	for {
		ev, err := st.Recv(ctx)
		if err != nil {
			break
		}
		got, _ = strconv.ParseUint(ev.ID, 10, 64)
	}
	if got != last {
		t.Fatalf("the stream ended after seq %d; the last event published before poold stopped is %d", got, last)
	}
}
