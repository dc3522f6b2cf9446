package web

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
)

// TestNoConsoleNoRefresh: with [web] enabled and no console open, every
// worker's spawn, exit and reap made the hub refresh that watcher through
// poold's loop, the loop busy with the reload that caused them
// (r56b-bigops M1: 30 % more of poold's CPU over a reload of 1,000
// workers, for nobody). Now the events only mark watchers dirty; the
// first console's join refreshes them, and one open console brings the
// refreshes back.
func TestNoConsoleNoRefresh(t *testing.T) {
	t.Parallel()
	fake := newFakeBackend(t, map[string]int{"web": 1})
	s, err := New(Options{Config: configs.Web{Address: "127.0.0.1:0"}, Backend: fake, Events: fake.Events, Stats: fake.Stats,
		Log: hclog.NewNullLogger()})
	if err != nil {
		t.Fatal(err)
	}
	h := newHub(s, context.Background())
	tm := newHubTimers()
	t.Cleanup(tm.stop)
	now := time.Now()
	seq := uint64(0)
	burst := func(n int) {
		for i := range n {
			seq++
			kind := []events.Kind{events.KindSpawn, events.KindExit, events.KindReap}[i%3]
			h.onEvent(tm, events.Event{Seq: seq, Time: now, Topic: "watcher.web." + string(kind), Watcher: "web", Kind: kind,
				Fields: map[string]any{"process_pid": 1000 + i, "process_id": i}})
			h.onTouch(tm, "web") // a console's action pokes the same way
		}
	}

	burst(300)
	if tm.rfArmed || h.busy {
		t.Fatalf("300 events with no console open armed a refresh (armed %v, busy %v)", tm.rfArmed, h.busy)
	}
	h.dispatchRefresh() // as a timer armed before the last console left
	if h.busy || len(h.jobs) != 0 {
		t.Fatalf("a refresh was dispatched with no console open: %d job(s)", len(h.jobs))
	}
	if !h.dirty["web"] {
		t.Fatalf("the events left web clean (dirty %v): the next console's join would not refresh it", h.dirty)
	}

	// One console (not connected: the hub only counts it) brings them back.
	h.clients[&client{}] = struct{}{}
	burst(1)
	if !tm.rfArmed {
		t.Fatal("an event with a console open armed no refresh")
	}
	h.dispatchRefresh()
	if job := <-h.jobs; job.all || strings.Join(job.names, ",") != "web" {
		t.Errorf("refresh job %+v, want web's", job)
	}
}
