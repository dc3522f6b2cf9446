package arbiter

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/workertest"
)

// A waited start, set or reload that a stop (or rm, or quit) cut short
// answered ok: `poolctl reload web` printed "started: -" and exited 0
// while nothing had been replaced. As systemctl's jobs canceled by a
// stop, they now fail with errno 6 and say so.

// neverReady is a notify watcher whose workers never report ready and
// whose ready_timeout outlasts every test: its start, or a rollout to it,
// waits until something else ends it.
func neverReady(w configs.Watcher) configs.Watcher {
	w.Env = []string{workertest.Env + "=never-ready", quickExit}
	w.ReadyTimeout = time.Hour
	return w
}

func wantCutShort(t *testing.T, what string, replies <-chan Reply) {
	t.Helper()
	var r Reply
	select {
	case r = <-replies:
	case <-time.After(hang):
		t.Fatalf("%s: no reply", what)
	}
	reason := fmt.Sprint(r["reason"])
	if r["errno"] != ErrnoAsync || !strings.Contains(reason, `watcher "web" was stopped before the `) {
		t.Errorf("%s cut short by a stop replied %v; want errno %d saying the watcher was stopped", what, r, ErrnoAsync)
	}
}

func TestWaitedStartCutShortByStopFails(t *testing.T) {
	w := neverReady(notifyWatcher(1))
	w.Autostart = false
	h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{w}}, Options{})
	replies := doAsync(h, "start", map[string]any{"name": "web", "waiting": true})
	h.spawned()
	h.do("stop", map[string]any{"name": "web", "waiting": true})
	wantCutShort(t, "waited start", replies)
}

func TestWaitedSetCutShortByStopFails(t *testing.T) {
	h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{notifyWatcher(1)}}, Options{})
	readyPids(t, h, "web", 1)
	broken := neverReady(notifyWatcher(1))
	replies := doAsync(h, "set", map[string]any{"name": "web", "waiting": true,
		"options": map[string]any{"env": broken.Env, "ready_timeout": 3600}})
	h.spawned() // the rollout's new worker, which never gets ready
	h.do("stop", map[string]any{"name": "web", "waiting": true})
	wantCutShort(t, "waited set", replies)
}

func TestWaitedReloadCutShortByQuitFails(t *testing.T) {
	w := notifyWatcher(1)
	h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{w}}, Options{})
	readyPids(t, h, "web", 1)
	broken := neverReady(w)
	h.do("set", map[string]any{"name": "web", "options": map[string]any{"env": broken.Env, "ready_timeout": 3600}})
	h.spawned()
	replies := doAsync(h, "reload", map[string]any{"name": "web", "waiting": true})
	h.spawned()
	h.do("quit", nil)
	wantCutShort(t, "waited reload", replies)
}
