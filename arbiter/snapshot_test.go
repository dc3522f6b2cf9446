package arbiter

import (
	"context"
	"testing"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher"
)

func TestSnapshotIsTypedAndComplete(t *testing.T) {
	web := testWatcher("web", "serve", 2)
	web.Sockets = []string{"web"}
	web.Priority = 1
	crashy := testWatcher("crashy", "crash", 1)
	crashy.FlappingAttempts = 0
	h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{web, crashy}}, Options{})
	h.spawns(3)
	h.next("backoff", nil)
	s, err := h.a.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Watchers) != 2 || s.Watchers[0].Name != "web" || s.Watchers[1].Name != "crashy" {
		t.Fatalf("watchers %+v, want web (priority 1) then crashy", s.Watchers)
	}
	w := s.Watchers[0]
	if w.Status != watcher.Active || w.Target != 2 || len(w.Processes) != 2 || w.Spec.Cmd != web.Cmd || w.ID == 0 {
		t.Errorf("web: %+v", w)
	}
	c := s.Watchers[1]
	if len(c.Slots) != 1 || c.Slots[0].LastExit != "exited with status 3" {
		t.Errorf("crashy slots %+v", c.Slots)
	}
	if len(s.Sockets) != 1 || s.Sockets[0].Name != "web" || s.Sockets[0].Address == "" || s.Sockets[0].Info["fd"] != s.Sockets[0].FD {
		t.Errorf("sockets %+v", s.Sockets)
	}
}
