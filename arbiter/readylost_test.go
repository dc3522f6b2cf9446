package arbiter

import (
	"context"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/proctest"
)

// reloadTo reloads watcher web of 2 serving workers to next, waited,
// and returns the harness, the answer and how long it took.
func reloadTo(t *testing.T, next configs.Watcher) (*harness, map[string]any, time.Duration) {
	t.Helper()
	good := testWatcher("web", "serve", 2)
	good.Sockets = []string{"web"}
	cfg := &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{good}}
	h := start(t, cfg, Options{Load: func() (*configs.Config, error) {
		c := *cfg
		c.Watchers = []configs.Watcher{next}
		return &c, nil
	}})
	readyPids(t, h, 2)
	t0 := time.Now()
	r := h.a.Do(context.Background(), Request{ID: "r", Command: "reloadconfig", Properties: map[string]any{"waiting": true}})
	return h, r, time.Since(t0)
}

// A wrapper script that runs a setup script of its shell before it
// execs the server: the setup's shell held the inherited socket and was
// reaped. It counted as a master's worker lost before any waited, so a
// server /proc cannot see waiting (here one that waits on a pipe, as one
// on io_uring would) was held to ready_timeout and failed its readiness
// there: the reload was abandoned though the server was fine. It counts
// as ready at the 10 s bound, as any such server.
func TestReloadToAWrappedServerNotSeenWaitingCountsItReady(t *testing.T) {
	py := proctest.Tool(t, "/usr/bin/python3", "python3")
	next := configs.DefaultWatcher("web")
	next.Cmd = "/bin/sh"
	next.Args = []string{"-c", `/bin/sh -c 'sleep 1; :'; exec "$0" -c "$1"`, py,
		`import os, select, socket; s = socket.socket(fileno=3); r, w = os.pipe(); ep = select.epoll(); ep.register(r, select.EPOLLIN); ep.poll()`}
	next.Sockets = []string{"web"}
	next.NumProcesses = 2
	next.ReadyTimeout = 15 * time.Second
	_, r, took := reloadTo(t, next)
	if r["status"] != "ok" {
		t.Fatalf("reloadconfig to a wrapped server after %v: %v; want ok", took, r)
	}
	t.Logf("reload took %v", took)
}
