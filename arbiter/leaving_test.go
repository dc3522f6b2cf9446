package arbiter

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher/proctest"
)

// TestCommandsDoNotReviveALeavingWatcher: start (by name, by pattern or
// of every watcher), restart, incr and set of a watcher rm was still
// stopping started it again, and rm then forgot it: its new workers ran
// on with no watcher to stop them. Those commands now refuse it by name
// and pass it over when they name no watcher; status and stop still see
// it; once its old workers end it is gone with nothing left running.
// add of its name said "already exists; rm it first" to the user who had
// just run rm; it says it is being removed too.
func TestCommandsDoNotReviveALeavingWatcher(t *testing.T) {
	keep := testWatcher("keep", "sleep", 1)
	stub := stubbornOn("stub", "s", 2)
	cfg := configs.Config{Sockets: []configs.Socket{tcpSocket("s")}, Watchers: []configs.Watcher{keep, stub}}
	h := start(t, &cfg, Options{})
	old := answering(t, h, "s", 2)

	pending(h)
	removed := doAsync(h, "rm", map[string]any{"name": "stub", "waiting": true})
	h.waitStatus("stub", "stopping")
	for _, c := range []struct {
		cmd   string
		props map[string]any
	}{
		{"start", map[string]any{"name": "stub"}},
		{"start", map[string]any{"name": "STUB", "match": "simple"}},
		{"restart", map[string]any{"name": "stub"}},
		{"reload", map[string]any{"name": "stub"}},
		{"incr", map[string]any{"name": "stub"}},
		{"set", map[string]any{"name": "stub", "options": map[string]any{"numprocesses": 3}}},
		// Not "already exists; rm it first": rm is what it is doing.
		{"add", map[string]any{"name": "stub", "cmd": "sleep", "args": []any{"60"}}},
	} {
		r := h.a.Do(context.Background(), Request{ID: c.cmd, Command: c.cmd, Properties: c.props})
		if r["status"] != "error" || !strings.Contains(fmt.Sprint(r["reason"]), "being removed") {
			t.Errorf("%s %v on a watcher rm is stopping: %v, want an error saying it is being removed", c.cmd, c.props, r)
		}
	}
	for _, props := range []map[string]any{nil, {"name": "*"}} {
		for _, cmd := range []string{"start", "restart"} {
			if r := h.a.Do(context.Background(), Request{ID: "s", Command: cmd, Properties: props}); r["status"] != "ok" {
				t.Errorf("%s %v: %v, want ok for keep", cmd, props, r)
			}
		}
	}
	if r := h.a.Do(context.Background(), Request{ID: "s", Command: "start", Properties: map[string]any{"name": "st*"}}); !strings.Contains(fmt.Sprint(r["reason"]), "being removed") {
		t.Errorf("start st*, a pattern only stub matches: %v, want an error saying it is being removed", r)
	}
	if st := h.do("status", map[string]any{"name": "stub"})["status"]; st != "stopping" {
		t.Errorf("stub after the refused commands: %v, want stopping", st)
	}
	killAll(t, old)
	if r := <-removed; r["status"] != "ok" {
		t.Fatalf("rm stub: %v", r)
	}
	proctest.Eventually(t, "stub forgotten", func() bool {
		return fmt.Sprint(h.do("list", nil)["watchers"]) == "[keep]"
	})
	for _, ev := range pending(h) {
		if ev.Watcher == "stub" && ev.Kind == events.KindSpawn {
			t.Errorf("stub spawned a worker while leaving: %+v", ev)
		}
	}
	for _, pid := range old {
		if syscall.Kill(pid, 0) == nil {
			t.Errorf("stub's worker %d still runs", pid)
		}
	}
}

// pending takes the events published so far and not yet read.
func pending(h *harness) []events.Event {
	var out []events.Event
	for {
		select {
		case ev := <-h.sub.C():
			out = append(out, ev)
		default:
			return out
		}
	}
}
