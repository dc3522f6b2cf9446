package arbiter

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
)

// TestCrashLoopEndIsPublished: a slot's crash loop ends when a worker of
// it has lived backoff_reset, a moment when nothing else happens. The
// watcher's status turns from flapping to active then, and a `recovered`
// event says so: without it, a subscriber, and the console, which
// refreshes on events, kept showing flapping (the console until its next
// 15 s resync; an event subscriber for good).
func TestCrashLoopEndIsPublished(t *testing.T) {
	count := filepath.Join(t.TempDir(), "count")
	w := testWatcher("shaky", "sleep", 1)
	// The first two workers exit at once; the third runs.
	w.Cmd = "/bin/sh"
	w.Args = []string{"-c", `n=$(cat "$1" 2>/dev/null || echo 0); echo $((n+1)) > "$1"; [ "$n" -ge 2 ] || exit 1; exec "$0"`, os.Args[0], count}
	w.BackoffReset = 3 * time.Second // a shell that exits at once lived 320 ms under load
	w.FlappingWindow = 3 * time.Second
	h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{})
	h.next("backoff", func(ev events.Event) bool { return ev.Fields["failures"] == 2 })
	if r := h.do("status", map[string]any{"name": "shaky"}); r["state"] != "flapping" {
		t.Fatalf("after two early deaths: status reply %v, want flapping", r)
	}
	third := h.next("spawn", nil).Fields["process_pid"]
	ev := h.next("recovered", nil)
	if ev.Fields["process_pid"] != third || ev.Fields["process_id"] != 1 || ev.Fields["status"] != "active" {
		t.Errorf("recovered event %v, want pid %v wid 1 status active", ev.Fields, third)
	}
	if up, _ := ev.Fields["uptime"].(float64); up < 3 {
		t.Errorf("recovered event %v: uptime below backoff_reset", ev.Fields)
	}
	if r := h.do("status", map[string]any{"name": "shaky"}); r["status"] != "active" {
		t.Errorf("after the crash loop ended: status reply %v, want active", r)
	}
}
