package arbiter

import (
	"fmt"
	"sync"
	"testing"

	"github.com/poold/poold/configs"
)

// TestReloadLeavesAWatcherAddedWhileItRan: a reloadconfig reads the file
// off the loop, then applies it; an add answered in between was undone
// by it ("removed extra"), although the add came after the reload was
// asked for. circusd's reloadconfig is done before its next command, so
// circusctl reloadconfig then add keeps the watcher (seen as a flaky
// TestCircusctlCommandsAgainstPoold). A reload now removes only the
// watchers that ran when it began.
func TestReloadLeavesAWatcherAddedWhileItRan(t *testing.T) {
	web := testWatcher("web", "sleep", 1)
	cfg := &configs.Config{Watchers: []configs.Watcher{web}}
	gate := make(chan struct{})
	reading := make(chan struct{}, 2) // Load was called: the reload began
	var once sync.Once
	open := func() { once.Do(func() { close(gate) }) }
	t.Cleanup(open)
	h := start(t, cfg, Options{Load: func() (*configs.Config, error) {
		reading <- struct{}{}
		<-gate
		return &configs.Config{Watchers: []configs.Watcher{web}}, nil
	}})
	readyPids(t, h, "web", 1)
	reload := doAsync(h, "reloadconfig", map[string]any{"waiting": true})
	<-reading
	if r := h.do("add", map[string]any{"name": "extra", "cmd": web.Cmd, "options": map[string]any{"env": web.Env}}); r["status"] != "ok" {
		t.Fatalf("add extra: %v", r)
	}
	open()
	if r := <-reload; r["status"] != "ok" {
		t.Fatalf("reloadconfig: %v", r)
	}
	if r := h.do("list", nil); fmt.Sprint(r["watchers"]) != "[extra web]" {
		t.Errorf("after a reload asked for before add extra: %v, want watchers [extra web]", r)
	}
	// The next reload, asked for after the add, removes it as circusd's
	// does: the file does not define it.
	if r := h.do("reloadconfig", map[string]any{"waiting": true}); fmt.Sprint(r["removed"]) != "[extra]" {
		t.Errorf("a reload asked for after the add: %v, want extra removed", r)
	}
}
