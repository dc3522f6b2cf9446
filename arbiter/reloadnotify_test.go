package arbiter

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/poold/poold/configs"
)

// TestReloadRefusedForNotifySocketChangesNothing: a reload that switches
// a watcher to readiness notify, whose notify socket cannot be made, is
// refused before the config's sockets are applied. It used to be refused
// after: a socket the new config added stayed bound in poold's set, and
// the reply still said nothing was changed.
func TestReloadRefusedForNotifySocketChangesNothing(t *testing.T) {
	w := testWatcher("web", "serve", 2)
	w.Sockets = []string{"web"}
	cfg := &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{w}}
	h := start(t, cfg, Options{Load: func() (*configs.Config, error) {
		c := *cfg
		nw := w
		nw.Readiness = "notify"
		c.Watchers = []configs.Watcher{nw}
		c.Sockets = []configs.Socket{tcpSocket("web"), tcpSocket("extra")}
		return &c, nil
	}})
	pids := readyPids(t, h, "web", 2)
	breakNotifyDir(t, h)

	r := h.a.Do(context.Background(), Request{ID: "r", Command: "reloadconfig", Properties: map[string]any{"waiting": true}})
	reason := fmt.Sprint(r["reason"])
	if r["errno"] != ErrnoAsync || !strings.Contains(reason, `watcher "web": notify socket`) || !strings.Contains(reason, "nothing was changed") {
		t.Fatalf("reloadconfig replied %v", r)
	}
	if _, bound := h.a.socks.Get("extra"); bound {
		t.Error("the refused config's new socket \"extra\" is bound in poold's set")
	}
	checkStillServing(t, h, pids)
}

// TestReloadReportsAWatcherItCouldNotAdd: a reload whose new watcher
// cannot be created (here: its notify socket cannot be made) applies the
// rest, but the reply names that watcher under rolled_back with the
// reason and leaves it out of added; it used to list it as added.
func TestReloadReportsAWatcherItCouldNotAdd(t *testing.T) {
	w := testWatcher("web", "serve", 1)
	w.Sockets = []string{"web"}
	cfg := &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{w}}
	extra := testWatcher("extra", "sleep", 1)
	extra.Readiness = "notify"
	h := start(t, cfg, Options{Load: func() (*configs.Config, error) {
		c := *cfg
		c.Watchers = []configs.Watcher{w, extra}
		return &c, nil
	}})
	readyPids(t, h, "web", 1)
	breakNotifyDir(t, h)

	r := h.a.Do(context.Background(), Request{ID: "r", Command: "reloadconfig", Properties: map[string]any{"waiting": true}})
	rb, _ := r["rolled_back"].(map[string]any)
	if r["status"] != "error" || !strings.Contains(fmt.Sprint(rb["extra"]), "notify socket") {
		t.Fatalf("reloadconfig replied %v: want an error naming watcher extra under rolled_back", r)
	}
	if added := fmt.Sprint(r["added"]); strings.Contains(added, "extra") {
		t.Errorf("reply lists watcher extra as added: %v", r)
	}
	if st := h.a.Do(context.Background(), Request{ID: "s", Command: "status", Properties: map[string]any{"name": "extra"}}); st["status"] != "error" {
		t.Errorf("status extra: %v, want no such watcher", st)
	}
}

// breakNotifyDir makes every notify socket poold has yet to make fail:
// they go in a directory poold makes once, and it is now a file.
func breakNotifyDir(t *testing.T, h *harness) {
	t.Helper()
	notFile := filepath.Join(t.TempDir(), "not-a-directory")
	if err := os.WriteFile(notFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	onLoop(t, h.a, func() any { h.a.notifyDir = notFile; return nil })
}
