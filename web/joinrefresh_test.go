package web

import (
	"testing"
	"time"

	"github.com/poold/poold/configs"
)

// TestConsoleThatJoinsSeesFreshState: a console that connects gets the
// hub's model, then poold's state as it is now. A change no event
// announces (none should exist, but the model is only as fresh as the
// last event) showed in a new console until the next resync, 15 s.
func TestConsoleThatJoinsSeesFreshState(t *testing.T) {
	t.Parallel()
	fake := newFakeBackend(t, map[string]int{"web": 1})
	ts := startServer(t, fake, configs.Web{}, func(tu *tunings) { tu.resync = time.Hour })
	c := dialConsole(t, ts)
	c.next("loaded", func(m map[string]any) bool { return watcherIn(m, "web") != nil })

	fake.mu.Lock()
	fake.watchers["web"].status = "flapping" // and no event says so
	fake.mu.Unlock()

	c2 := dialConsole(t, ts)
	c2.next("web flapping", func(m map[string]any) bool {
		w := watcherIn(m, "web")
		return w != nil && w["status"] == "flapping"
	})
}
