package arbiter

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/poold/poold/configs"
)

// TestReloadChecksOnlyTheWatchersItTouches: a watcher whose program has
// been missing since poold started is not a reason to refuse an edit to
// another watcher (it used to be: start never checks programs, a reload
// checked them all, so the file could not be reloaded at all). A reload
// that changes that watcher is still refused.
func TestReloadChecksOnlyTheWatchersItTouches(t *testing.T) {
	web := testWatcher("web", "serve", 1)
	missing := testWatcher("optional", "serve", 1)
	missing.Cmd = "/nonexistent/poold-test/not-deployed-yet"
	cfg := &configs.Config{Watchers: []configs.Watcher{web, missing}}
	next := *cfg
	h := start(t, cfg, Options{Load: func() (*configs.Config, error) { c := next; return &c, nil }})
	readyPids(t, h, 1)
	reload := func() Reply {
		return h.a.Do(context.Background(), Request{ID: "r", Command: "reloadconfig", Properties: map[string]any{"waiting": true}})
	}

	web2 := web
	web2.NumProcesses = 2
	next.Watchers = []configs.Watcher{web2, missing}
	if r := reload(); r["status"] != "ok" || fmt.Sprint(r["updated"]) != "[web]" {
		t.Fatalf("reload scaling web beside a watcher whose program is missing: %v, want ok with updated [web]", r)
	}

	missing2 := missing
	missing2.Args = []string{"--port", "1"}
	next.Watchers = []configs.Watcher{web2, missing2}
	r := reload()
	if r["status"] != "error" || !strings.Contains(fmt.Sprint(r["reason"]), "watchers.optional.cmd") {
		t.Fatalf("reload changing the watcher whose program is missing: %v, want it refused naming watchers.optional.cmd", r)
	}
}
