package arbiter

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/proctest"
)

// A waited reload draining workers with a long graceful_timeout (a
// websocket service) held `poolctl upgrade` for 90 s, and the refusal
// said only "waited commands not answered yet (reload)", though the same
// reload sent with --no-wait is carried across the exec (upgraded in
// 156 ms). What holds the upgrade now names the command and its watcher,
// and says to send it without waiting.
func TestUpgradeHeldByWaitedReloadSaysNoWait(t *testing.T) {
	w := testWatcher("web", "stubborn", 1)
	w.Sockets, w.GracefulTimeout = []string{"web"}, time.Hour
	h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{w}}, Options{})
	h.spawns(1)
	h.killWorkersAtEnd()
	h.serving("web")
	waited := doAsync(h, "reload", map[string]any{"name": "web", "waiting": true})
	h.parkedCount(1)
	// Once the new worker is ready, only the reload's answer holds it.
	var why string
	proctest.Eventually(t, "the rolling reload done, its old worker draining", func() bool {
		why = onLoop(t, h.a, func() any {
			if err := h.a.frozen(); err != nil {
				return err.Error()
			}
			return ""
		}).(string)
		return !strings.Contains(why, "\n")
	})
	for _, want := range []string{`waited commands not answered yet (reload "web")`, "poolctl reload --no-wait", "carried", "graceful_timeout"} {
		if !strings.Contains(why, want) {
			t.Errorf("what holds the upgrade does not say %q: %s", want, why)
		}
	}
	for _, pid := range onLoop(t, h.a, func() any { return h.a.watchers["web"].Pids() }).([]int) {
		killWorker(t, pid)
	}
	waitReply(t, waited)
}

// The same reload, whose caller gave up waiting (its connection closed,
// its HTTP request ended: Do's ctx is done), holds the upgrade no
// longer: nobody would read its answer, and its drain is carried across
// the exec (r58 M-B).
func TestUpgradeNotHeldByWaitedReloadOfGoneCaller(t *testing.T) {
	w := testWatcher("web", "stubborn", 1)
	w.Sockets, w.GracefulTimeout = []string{"web"}, time.Hour
	h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{w}}, Options{})
	h.spawns(1)
	h.killWorkersAtEnd()
	h.serving("web")
	ctx, cancel := context.WithCancel(context.Background())
	gaveUp := make(chan Reply, 1)
	go func() {
		gaveUp <- h.a.Do(ctx, Request{ID: "r", Command: "reload", Properties: map[string]any{"name": "web", "waiting": true}})
	}()
	h.parkedCount(1)
	cancel()
	if r := waitReply(t, gaveUp); !strings.Contains(fmt.Sprint(r["reason"]), "it goes on in poold") {
		t.Errorf("reload whose caller gave up: %v, want that it goes on", r)
	}
	var why string
	proctest.Eventually(t, "nothing but the old worker's drain holds the upgrade", func() bool {
		why = onLoop(t, h.a, func() any {
			if err := h.a.frozen(); err != nil {
				return err.Error()
			}
			return ""
		}).(string)
		return why == ""
	})
}
