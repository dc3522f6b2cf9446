package arbiter

import (
	"context"
	"strings"
	"testing"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher"
	"github.com/poold/poold/watcher/proctest"
)

// mentions lists the lines of why that name watcher name.
func mentions(why []string, name string) []string {
	var out []string
	for _, s := range why {
		if strings.Contains(s, `watcher "`+name+`"`) {
			out = append(out, s)
		}
	}
	return out
}

// TestStopClearsAFailedStart: a watcher whose start did not happen (its
// before_start hook failed, or a dependency was down) counts for
// readiness, "not started: ...", until a start tries again. A stop puts
// it at rest on purpose, as it does a failed one-shot: it kept holding
// /readyz back after `poolctl stop`, and now leaves it.
func TestStopClearsAFailedStart(t *testing.T) {
	t.Run("before_start failed", func(t *testing.T) {
		gate := testWatcher("gate", "sleep", 1)
		gate.Hooks = map[string]string{"before_start": hookScript(t, t.TempDir(), "no.sh", "exit 3\n")}
		h := start(t, &configs.Config{Watchers: []configs.Watcher{testWatcher("web", "sleep", 1), gate}}, Options{})
		var why []string
		proctest.Eventually(t, "gate not started, its hook failed", func() bool {
			why = readyOnce(t, h, "gate", watcher.Stopped)
			return len(why) > 0
		})
		if got := mentions(why, "gate"); len(got) != 1 || !strings.Contains(got[0], "not started: the before_start hook failed") {
			t.Fatalf("a watcher whose before_start failed: NotReady = %q", why)
		}
		h.do("stop", map[string]any{"name": "gate", "waiting": true})
		if why := readyOnce(t, h, "gate", watcher.Stopped); len(why) != 0 {
			t.Errorf("stopped on purpose after its before_start failed: NotReady = %q", why)
		}
		if r := h.do("status", map[string]any{"name": "gate"}); r["status"] != "stopped" || r["reason"] != nil && r["reason"] != "" {
			t.Errorf("status once stopped: %v, want stopped and no reason", r)
		}
	})
	t.Run("dependency down", func(t *testing.T) {
		app := testWatcher("app", "sleep", 1)
		app.DependsOn = []string{"db"}
		h := start(t, &configs.Config{Watchers: []configs.Watcher{testWatcher("web", "sleep", 1), crashingDep(), app}}, Options{})
		var why []string
		proctest.Eventually(t, "app not started, db failed", func() bool {
			why = readyOnce(t, h, "app", watcher.Stopped)
			got := mentions(why, "app")
			return len(got) == 1 && strings.Contains(got[0], `not started: it depends on watcher "db"`)
		})
		h.do("stop", map[string]any{"name": "app", "waiting": true})
		ctx, cancel := context.WithTimeout(context.Background(), hang)
		defer cancel()
		s, err := h.a.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := mentions(NotReady(s), "app"); len(got) != 0 {
			t.Errorf("stopped on purpose while its dependency is down: NotReady = %q", got)
		}
	})
}
