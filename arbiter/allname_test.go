package arbiter

import (
	"fmt"
	"testing"

	"github.com/poold/poold/configs"
)

// Defect: supervisorctl's "all" (stop all, start all, status all), the
// most common name in its runbooks, got only "program all not found"
// (r67 supervisord trial F4); poold's every-watcher form is no name. A
// watcher named all is still found.
func TestSupervisorctlAllSaysGiveNoName(t *testing.T) {
	h := start(t, &configs.Config{Watchers: []configs.Watcher{testWatcher("web", "sleep", 1)}}, Options{})
	h.spawns(1)
	hint := "program %s not found (known: web); poold has no supervisorctl \"all\": give no name for every watcher (poolctl stop, not poolctl stop all)"
	expectRefused(t, h, []refusal{
		{"stop", map[string]any{"name": "all"}, fmt.Sprintf(hint, "all")},
		{"start", map[string]any{"name": "ALL"}, fmt.Sprintf(hint, "ALL")},
		{"status", map[string]any{"name": "all"}, fmt.Sprintf(hint, "all")},
	})

	h2 := start(t, &configs.Config{Watchers: []configs.Watcher{testWatcher("all", "sleep", 1)}}, Options{})
	h2.spawns(1)
	h2.do("status", map[string]any{"name": "all"}) // fails the test on an error reply
}
