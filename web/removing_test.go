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
	t.Parallel()
	fake := newFakeBackend(t, map[string]int{"web": 1, "worker": 1})
	ts := startServer(t, fake, configs.Web{}, func(tu *tunings) { tu.refreshDelay = 0 })
	c := dialConsole(t, ts)
	c.next("loaded", func(m map[string]any) bool { return watcherIn(m, "worker") != nil })
	c.appliesSyncs()

	fake.Events.Publish("worker", events.KindRemove, nil)
	// The refresh a console's connect asks for may be applied before the
	// remove event and still list worker (it did, 8 runs in 30); the one
	// after the event does not, although the fake still has worker.
	c.next("a refresh after the remove without worker", func(m map[string]any) bool {
		return m["type"] == "sync" && !synced(m, "worker")
	})
	// Its stop goes on: a kill of worker, then an event of poold's own,
	// after which the console reads everything again (a full refresh
	// always sends a sync; one of web alone only if web changed).
	fake.Events.Publish("worker", events.KindKill, map[string]any{"process_pid": 1})
	fake.Events.Publish("", events.KindStart, nil)
	c.next("the full refresh after the kill", func(m map[string]any) bool {
		if watcherIn(m, "worker") != nil || synced(m, "worker") {
			t.Fatalf("a refresh brought the removed worker back: %v", m)
		}
		return synced(m, "web")
	})
}

// synced says whether a sync message lists watcher name.
func synced(m map[string]any, name string) bool {
	v, _ := m["versions"].(map[string]any)
	_, ok := v[name]
	return m["type"] == "sync" && ok
}
