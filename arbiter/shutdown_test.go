package arbiter

import (
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher/proctest"
)

// TestShutdownClosesASocketOnceItsWatchersStopped: while poold stops, a
// socket whose watchers have all stopped is closed, so a client is
// refused at once instead of waiting in a backlog nobody accepts from.
// Before, poold held every socket until its last watcher stopped: behind
// a watcher with a long graceful_timeout, each new connection to the
// stopped "web" hung for its client's whole timeout (Kubernetes keeps
// sending connections for a while after SIGTERM).
func TestShutdownClosesASocketOnceItsWatchersStopped(t *testing.T) {
	web := testWatcher("web", "serve", 2)
	web.Sockets = []string{"web"}
	slow := testWatcher("slow", "stubborn", 1)
	slow.Sockets = []string{"admin"}
	slow.GracefulTimeout = time.Hour
	h := start(t, &configs.Config{
		Sockets:  []configs.Socket{tcpSocket("web"), tcpSocket("admin")},
		Watchers: []configs.Watcher{web, slow},
	}, Options{})
	t.Cleanup(h.a.Kill) // on a failure, not an hour of graceful_timeout
	h.spawns(3)
	h.serving("web")
	h.serving("admin") // from here on the stubborn worker ignores SIGTERM
	webAddr, adminAddr := h.socketAddr("web"), h.socketAddr("admin")

	h.do("quit", nil)
	h.next(string(events.KindStop), func(ev events.Event) bool { return ev.Watcher == "web" })
	// The loop closes it right after the watcher's stop event.
	proctest.Eventually(t, "log says socket web closed", func() bool {
		return strings.Contains(h.log.String(), "socket closed: the watchers using it have stopped; new connections are refused: socket=web")
	})
	c, err := net.DialTimeout("tcp", webAddr, 5*time.Second)
	if err == nil {
		c.Close()
		t.Errorf("connect to %s (socket web, its watcher stopped) succeeded while poold waits for watcher slow; want it refused", webAddr)
	} else if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("connect to %s: %v; want connection refused", webAddr, err)
	}
	// A socket whose watcher still runs stays open and served.
	if _, err := get(adminAddr, "/"); err != nil {
		t.Errorf("socket admin, whose watcher is still stopping: %v", err)
	}
	h.a.Kill()
	h.next(string(events.KindStop), func(ev events.Event) bool { return ev.Watcher == "slow" })
}
