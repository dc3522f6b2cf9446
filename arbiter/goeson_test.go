package arbiter

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/proctest"
)

// A waited command whose caller stopped waiting (Ctrl-C on poolctl
// reload --waiting; every poolctl upgrade that waits for the settle)
// was logged "command failed ... context canceled (it goes on in
// poold)": it had not failed. The log says what happened: the caller
// stopped waiting, the command goes on.
func TestWaitedCommandOfGoneCallerIsLoggedAsGoingOn(t *testing.T) {
	w := testWatcher("web", "stubborn", 1)
	w.Sockets, w.GracefulTimeout = []string{"web"}, time.Hour
	h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{w}}, Options{})
	h.spawns(1)
	h.killWorkersAtEnd()
	h.serving("web")
	ctx, cancel := context.WithCancel(WithCaller(context.Background(), "uid 1000 gid 1000 pid 4242"))
	gaveUp := make(chan Reply, 1)
	go func() {
		gaveUp <- h.a.Do(ctx, Request{ID: "r", Command: "reload", Properties: map[string]any{"name": "web", "waiting": true}})
	}()
	h.parkedCount(1)
	cancel()
	r := waitReply(t, gaveUp)
	if !strings.Contains(fmt.Sprint(r["reason"]), "it goes on in poold") {
		t.Errorf("reload whose caller gave up: %v, want that it goes on", r)
	}
	if _, ok := r[goesOn]; ok { // the mark stays inside
		t.Errorf("the reply carries do's mark: %v", r)
	}
	want := `[INFO]  command goes on; its caller stopped waiting for the answer: command=reload watcher=web waiting=true why="context canceled" by="uid 1000 gid 1000 pid 4242"`
	proctest.Eventually(t, "the log to say the reload goes on", func() bool { return strings.Contains(h.log.String(), "command goes on") })
	if logged := h.log.String(); !strings.Contains(logged, want) || strings.Contains(logged, "command failed") {
		t.Errorf("log lacks %q or says the reload failed:\n%s", want, logged)
	}
}

// An upgrade's first request ends as poolctl goes on waiting for the
// outcome on another connection (upgrade_status): the log said its caller
// stopped waiting, while poolctl waited on and printed "upgraded" (r64
// overlap trial).
func TestUpgradeRequestEndIsNotLoggedAsTheCallerGivingUp(t *testing.T) {
	var log strings.Builder
	a := &Arbiter{log: hclog.New(&hclog.LoggerOptions{Output: &log})}
	a.logGoesOn(func() string { return "uid 0 gid 0 pid 42" }, Request{Command: "upgrade", Properties: map[string]any{}}, context.Canceled)
	if got := log.String(); strings.Contains(got, "stopped waiting") || !strings.Contains(got, "upgrade goes on") {
		t.Errorf("upgrade's request end logged as %q, want that the upgrade goes on and poolctl asks for its outcome", got)
	}
}
