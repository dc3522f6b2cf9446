package web

import (
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/poold/poold/events"
)

// TestReapedStaysBoundedWithoutStats: the hub remembers reaped pids for a
// minute, to hide them from slower replies, and used to forget them only
// when a stats round arrived. Stats flow only while a console is open or
// the stats stream has a subscriber, so a poold nobody watched grew the
// set by one entry per worker exit, for as long as it ran.
func TestReapedStaysBoundedWithoutStats(t *testing.T) {
	h := newHub(&Server{log: hclog.NewNullLogger(), tunings: defaultTunings()}, t.Context())
	h.byName["web"] = &watcherView{Name: "web"}
	start := time.Unix(1_700_000_000, 0)
	const exits = 3000 // one worker exit a second for 50 minutes
	seq := uint64(0)
	most := 0
	for i := range exits {
		at := start.Add(time.Duration(i) * time.Second)
		pid := 1000 + i
		for _, kind := range []events.Kind{events.KindSpawn, events.KindExit} {
			seq++
			h.applyEvent(events.Event{Seq: seq, Time: at, Topic: "watcher.web." + string(kind),
				Watcher: "web", Kind: kind, Fields: map[string]any{"process_pid": pid, "process_id": 1}})
		}
		h.pending = nil // what the flush timer does
		most = max(most, len(h.reaped))
	}
	// A minute of exits is about 60; pruning runs only once the set has
	// doubled (and not below 64), so up to about twice that.
	if most > 200 {
		t.Fatalf("after %d exits without a stats round the hub held up to %d reaped pids; want at most 200 (a minute's worth, twice)", exits, most)
	}
	if len(h.byName["web"].Procs) != 0 {
		t.Fatalf("reaped processes still listed: %v", h.byName["web"].Procs)
	}
}
