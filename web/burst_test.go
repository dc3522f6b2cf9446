package web

import (
	"fmt"
	"testing"
	"time"

	"github.com/poold/poold/configs"
)

// TestFullRefreshOfManyWatchersWhileBackendIsSlow: a full refresh asks
// poold for its status and stats, then for each watcher's options and
// status, and all those calls shared one backendTO. With 100 watchers and
// poold's loop busy (a restart of them all, a loaded host) they did not
// fit: every refresh failed, and the console kept showing what the events
// had made of its model (watchers "stopped" that ran, processes that had
// exited) for as long as poold stayed slow.
func TestFullRefreshOfManyWatchersWhileBackendIsSlow(t *testing.T) {
	const watchers = 150
	spec := map[string]int{}
	for i := range watchers {
		spec[fmt.Sprintf("w%03d", i)] = 0
	}
	fake := newFakeBackend(t, spec)
	// 2 + 2 x 150 calls of 10 ms: 3 s in a row, each far within 1 s.
	fake.callTakes = 10 * time.Millisecond
	ts := startServer(t, fake, configs.Web{}, func(tu *tunings) { tu.backendTO = time.Second })
	c := dialConsole(t, ts)
	var last string
	c.next("a full state of every watcher", func(m map[string]any) bool {
		if m["type"] != "hello" && m["type"] != "state" {
			return false
		}
		st, _ := m["state"].(map[string]any)
		last, _ = st["error"].(string)
		if last != "" {
			t.Logf("state: %s", last)
		}
		return st["loaded"] == true && last == "" && len(asSlice(st["watchers"])) == watchers
	})
}
