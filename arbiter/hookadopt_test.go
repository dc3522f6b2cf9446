package arbiter

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/arbiter/upgrade"
	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
)

// TestUpgradeKeepsABeforeSpawnFailure: a slot its before_spawn hook
// failed said so ("fix the hook or what it checks") until an upgrade;
// the new image then claimed it had flapped ("it gave up after 5
// pauses"), which never happened, since the handed-over slot did not say
// why it failed. It now does.
func TestUpgradeKeepsABeforeSpawnFailure(t *testing.T) {
	dir := t.TempDir()
	w := testWatcher("web", "sleep", 1)
	w.FlappingMaxRetry = 5
	w.Hooks = map[string]string{"before_spawn": hookScript(t, dir, "no.sh", "echo 'no database' >&2; exit 3\n")}
	old := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{NoCgroups: true})
	old.next(string(events.KindFailed), nil)
	st := onLoop(t, old.a, func() any { return old.a.state(time.Now()) }).(*upgrade.State)
	b, err := json.Marshal(st) // as the new image reads it
	if err != nil {
		t.Fatal(err)
	}
	var handed upgrade.State
	if err := json.Unmarshal(b, &handed); err != nil {
		t.Fatal(err)
	}
	next := start(t, handed.Config, Options{NoCgroups: true, Adopt: &handed})
	r := next.do("status", map[string]any{"name": "web"})
	reason, _ := r["reason"].(string)
	if r["state"] != "failed" || !strings.Contains(reason, "before_spawn hook failed") ||
		!strings.Contains(reason, "fix the hook") || strings.Contains(reason, "pause") {
		t.Errorf("status after an upgrade: %v, want failed naming the hook and no pauses", r)
	}
}
