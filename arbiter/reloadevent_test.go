package arbiter

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher/workertest"
)

// F4 (r59b): the arbiter.reloadconfig event left out socket changes (a
// backlog change looked like a no-op), no event came for a refused
// reload, and a watcher whose new workers failed was listed under
// updated. It now carries sockets, comes with error for a refused
// reload, and lists a watcher whose workers are being replaced under
// rolling, not updated (its reload or reload_failed tells the end).
func TestReloadConfigEventSaysWhatTheReloadDoes(t *testing.T) {
	w := testWatcher("web", "serve", 1)
	w.Sockets = []string{"web"}
	w.Readiness, w.ReadyDelay = "delay", 3*time.Second // a crashing new worker is never ready
	sock := tcpSocket("web")
	cfg := &configs.Config{Sockets: []configs.Socket{sock}, Watchers: []configs.Watcher{w}}
	var step atomic.Int32
	h := start(t, cfg, Options{Load: func() (*configs.Config, error) {
		c := *cfg
		switch step.Load() {
		case 0: // a socket change alone
			s := sock
			s.Backlog = 77
			c.Sockets = []configs.Socket{s}
		case 1:
			return nil, errors.New("poold.toml:3:1: watchers.web.cmd: missing")
		case 2: // a new version whose workers die before they are ready
			s := sock
			s.Backlog = 77
			c.Sockets = []configs.Socket{s}
			nw := w
			nw.Env = []string{workertest.Env + "=crash"}
			c.Watchers = []configs.Watcher{nw}
		}
		return &c, nil
	}})
	readyPids(t, h, "web", 1)
	reload := func() (Reply, events.Event) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), hang)
		defer cancel()
		r := h.a.Do(ctx, Request{ID: "r", Command: "reloadconfig", Properties: map[string]any{"waiting": true}})
		return r, h.next(string(events.KindReloadConfig), nil)
	}
	list := func(ev events.Event, key string) string { return fmt.Sprint(ev.Fields[key]) }

	r, ev := reload()
	socks, _ := ev.Fields["sockets"].(map[string]any)
	if r["status"] != "ok" || fmt.Sprint(socks["updated"]) != "[web]" || list(ev, "updated") != "[]" || ev.Fields["error"] != nil {
		t.Errorf("backlog change: reply %v, event %v; want sockets.updated [web], nothing else", r, ev.Fields)
	}

	step.Store(1)
	r, ev = reload()
	if why, _ := ev.Fields["error"].(string); r["status"] != "error" || !strings.Contains(why, "watchers.web.cmd: missing") || !strings.Contains(why, "nothing was changed") {
		t.Errorf("refused reload: reply %v, event %v; want error naming the key", r, ev.Fields)
	}

	step.Store(2)
	r, ev = reload()
	if r["status"] != "error" || !strings.Contains(fmt.Sprint(r["rolled_back"]), "web") {
		t.Fatalf("reload to a crashing version: %v, want web rolled back", r)
	}
	if up, _ := ev.Fields["updated"].([]string); slices.Contains(up, "web") || list(ev, "rolling") != "[web]" {
		t.Errorf("reload to a crashing version: event %v; want web under rolling, not updated", ev.Fields)
	}
}
