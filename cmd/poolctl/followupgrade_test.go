package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/watcher/proctest"
)

// TestRemoteEventsFollowUpgrade: `poolctl --url ... events` and the fleet
// view's events ended for good ("unexpected EOF", the host dropped from
// the fleet's stream) when a poold upgraded in place, though over ZeroMQ
// the same command reconnects and replays what it missed. Over the API
// both now open the stream again from their last event: the new image's
// first event (arbiter.upgrade) and what follows arrive.
func TestRemoteEventsFollowUpgrade(t *testing.T) {
	t.Parallel()
	ps, f := startFleet(t, 2)
	auth := []string{"--token-file", f.ops, "--ca-file", f.cert}
	ctx, cancel := context.WithCancel(context.Background())
	type watch struct {
		name       string
		out, errb  *syncBuffer
		done       chan int
		spawnsWant string // how a spawn of ps[0] shows
	}
	start := func(name, spawn string, args ...string) *watch {
		w := &watch{name: name, out: &syncBuffer{}, errb: &syncBuffer{}, done: make(chan int, 1), spawnsWant: spawn}
		go func() { w.done <- run(ctx, append(append(auth, args...), "events"), w.out, w.errb) }()
		return w
	}
	single := start("--url events", "watcher.web.spawn", "--url", ps[0].api.url)
	fleet := start("fleet events", hostOf(ps[0])+" ", "--url", ps[0].api.url, "--url", ps[1].api.url)
	watches := []*watch{single, fleet}
	defer func() {
		cancel()
		for _, w := range watches {
			if code := <-w.done; code != 0 {
				t.Errorf("%s: exit %d; stderr %q", w.name, code, w.errb.String())
			}
		}
	}()
	// Each stream opens on its own: incr until both show a spawn.
	seenAfter := func(marker string) bool {
		for _, w := range watches {
			o := w.out.String()
			i := strings.Index(o, marker)
			if i < 0 || !strings.Contains(o[i:], w.spawnsWant) || !strings.Contains(o[i:], "watcher.web.spawn") {
				return false
			}
		}
		return true
	}
	incrUntil := func(what, marker string) {
		t.Helper()
		if !proctest.Poll(30*time.Second, func() bool {
			ps[0].local(t, "incr", "web")
			return seenAfter(marker)
		}) {
			t.Fatalf("%s: no spawn of %s after %q;\n--url: %q, stderr %q\nfleet: %q, stderr %q", what, hostOf(ps[0]), marker,
				single.out.String(), single.errb.String(), fleet.out.String(), fleet.errb.String())
		}
	}
	incrUntil("before the upgrade", "")
	ps[0].local(t, "upgrade")
	incrUntil("after the upgrade", "arbiter.upgrade")
	for _, w := range watches {
		select {
		case code := <-w.done:
			w.done <- code
			t.Errorf("%s ended (exit %d) after the upgrade; stderr %q", w.name, code, w.errb.String())
		default:
		}
		if !strings.Contains(w.errb.String(), "reconnecting from #") {
			t.Errorf("%s: stderr %q does not say the stream was lost and reopened", w.name, w.errb.String())
		}
	}
}
