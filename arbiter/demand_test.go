package arbiter

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher/proctest"
)

// runStatsWhen runs RunStatsWhen for the test and returns the stats bus's
// subscription and a counter of the ticks that asked wanted.
func runStatsWhen(t *testing.T, h *harness, want *atomic.Bool) (*events.Subscription, *atomic.Int64) {
	t.Helper()
	stats := events.NewBus(nil)
	sub := stats.Subscribe(100000)
	t.Cleanup(sub.Close)
	var asked atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = h.a.RunStatsWhen(ctx, 20*time.Millisecond, stats, func() bool { asked.Add(1); return want.Load() })
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
	return sub, &asked
}

// TestStatsSampleOnlyOnDemand: with nobody wanting the stream, ticks
// publish nothing (and so read no /proc for it); once wanted, the stream
// flows.
func TestStatsSampleOnlyOnDemand(t *testing.T) {
	h := start(t, &configs.Config{Watchers: []configs.Watcher{testWatcher("idle", "sleep", 2)}}, Options{})
	h.spawns(2)
	var want atomic.Bool
	sub, asked := runStatsWhen(t, h, &want)
	proctest.Eventually(t, "three ticks", func() bool { return asked.Load() >= 3 })
	select {
	case ev := <-sub.C():
		t.Fatalf("stats published with nobody watching: %s", ev.Topic)
	default:
	}
	want.Store(true)
	select {
	case ev := <-sub.C():
		t.Logf("once wanted: %s", ev.Topic)
	case <-time.After(hang):
		t.Fatal("no stats once wanted")
	}
}

// TestLimitsSampleWithNobodyWatching: a watcher with max_rss is sampled
// even when the stream is not wanted, so its limit still acts.
func TestLimitsSampleWithNobodyWatching(t *testing.T) {
	w := testWatcher("capped", "sleep", 1)
	w.MaxRSS, w.LimitThreshold = 1, 1 // every worker is over one byte
	h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{})
	h.spawns(1)
	var want atomic.Bool
	sub, _ := runStatsWhen(t, h, &want)
	ev := h.next("unhealthy", nil) // over its limit young: stopped, an early death
	t.Logf("over its limit: %v", ev.Fields)
	select {
	case ev := <-sub.C():
		t.Fatalf("stats published with nobody watching: %s", ev.Topic)
	default:
	}
}
