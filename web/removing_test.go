package web

import (
	"testing"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
)

// TestRemovedWatcherLeavesWhileItStops: poold publishes remove before it
// stops the watcher (circusd's order), so for a while the backend still
// lists it. The console drops it at the remove event and a refresh
// provoked by its stop (its kills, reaps) must not bring it back.
func TestRemovedWatcherLeavesWhileItStops(t *testing.T) {
	fake := newFakeBackend(t, map[string]int{"web": 1, "worker": 1})
	ts := startServer(t, fake, configs.Web{}, func(tu *tunings) { tu.refreshDelay = 0 })
	c := dialConsole(t, ts)
	c.next("loaded", func(m map[string]any) bool { return watcherIn(m, "worker") != nil })

	fake.Events.Publish("worker", events.KindRemove, nil)
	m := c.next("the refresh after the remove", typeIs("state"))
	if watcherIn(m, "worker") != nil {
		t.Fatalf("state after worker's remove event still lists it: %v", m["state"])
	}
	// Its stop goes on: a kill of worker, then a marker event on web.
	fake.Events.Publish("worker", events.KindKill, map[string]any{"process_pid": 1})
	fake.Events.Publish("web", events.KindUpdated, nil)
	c.next("web's refresh", func(m map[string]any) bool {
		if m["type"] == "watcher" && watcherIn(m, "worker") != nil {
			t.Fatalf("a refresh brought the removed worker back: %v", m)
		}
		return m["type"] == "watcher" && watcherIn(m, "web") != nil
	})
}
