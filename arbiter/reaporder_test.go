package arbiter

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
)

// TestAfterStopRunsAfterTheLastWorkersReapHooks: a stop ran after_stop
// (and published stop, and answered a waited stop) as soon as the last
// worker was gone, while that worker's before_reap and after_reap still
// ran: after_stop began before them, the opposite of circusd, whose stop
// reaps every worker, hooks included, before after_stop. The stop is now
// done once the reap hooks of its workers are.
func TestAfterStopRunsAfterTheLastWorkersReapHooks(t *testing.T) {
	dir := t.TempDir()
	trace := filepath.Join(dir, "trace")
	slow := traceHook(t, dir, trace, "0.3")
	w := testWatcher("web", "sleep", 2)
	w.HookTimeout = time.Minute
	w.Hooks = map[string]string{"before_reap": slow, "after_reap": slow, "after_stop": traceHook(t, dir, trace, "0")}
	h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{})
	h.next(string(events.KindStart), func(ev events.Event) bool { return ev.Watcher == "web" })
	h.do("stop", map[string]any{"name": "web", "waiting": true})

	lines := traceLines(t, trace)
	all := strings.Join(lines, "\n")
	if n := strings.Count(all, "web after_reap end"); n != 2 {
		t.Fatalf("a waited stop answered with %d of 2 after_reap hooks done:\n%s", n, all)
	}
	last := -1
	for i, l := range lines {
		if strings.Contains(l, "_reap") {
			last = i
		}
	}
	if !before(lines, lines[last], "web after_stop begin") {
		t.Errorf("after_stop began before the workers' reap hooks ended:\n%s", all)
	}
	if lines[len(lines)-1] != "web after_stop end" {
		t.Errorf("a waited stop answered before after_stop ended:\n%s", all)
	}
}
