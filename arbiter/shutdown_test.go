package arbiter

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher/proctest"
)

// TestShutdownClosesASocketOnceItsWatchersStopped: while poold stops, a
// socket whose watchers have all stopped is closed (poold let go of its
// copy as the stop began), so a client is refused at once instead of
// waiting in a backlog nobody accepts from.
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
		return strings.Contains(h.log.String(), "socket closed: poold is stopping; new connections are refused once its workers stop accepting: socket=web")
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

// socketFDs counts pid's open sockets.
func socketFDs(t testing.TB, pid int) int {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if link, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil && strings.HasPrefix(link, "socket:") {
			n++
		}
	}
	return n
}

// TestShutdownRefusesOnceWorkersStopAccepting: poold lets go of its copy
// of a socket as soon as it stops, so once the workers have closed theirs
// (gunicorn's master does at once on SIGTERM) a client is refused, even
// while a worker still finishes a request. Before, poold held the socket
// until the watcher had stopped: with 8 gunicorn masters that took 12 s
// more on a busy host, and every new connection hung that long.
func TestShutdownRefusesOnceWorkersStopAccepting(t *testing.T) {
	web := testWatcher("web", "slow", 1) // closes its listener on SIGTERM, finishes the request in hand
	web.Sockets = []string{"web"}
	web.GracefulTimeout = time.Minute // the stop waits for the request, not for poold's SIGKILL
	h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{web}}, Options{})
	t.Cleanup(h.a.Kill)
	pid := h.spawned()
	h.serving("web")
	addr := h.socketAddr("web")
	proctest.Eventually(t, "the worker holds its listener only", func() bool { return socketFDs(t, pid) == 1 })
	held, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	proctest.Eventually(t, "the worker accepted the held connection", func() bool { return socketFDs(t, pid) == 2 })

	h.do("quit", nil)
	proctest.Eventually(t, "the worker closed its listener", func() bool { return socketFDs(t, pid) == 1 })
	proctest.Eventually(t, "log says socket web closed", func() bool {
		return strings.Contains(h.log.String(), "socket closed: poold is stopping")
	})
	if !proctest.Alive(pid) {
		t.Fatalf("socket web was closed only once its worker %d had exited; want it closed while the worker still finishes its request", pid)
	}
	if c, err := net.DialTimeout("tcp", addr, 5*time.Second); err == nil {
		c.Close()
		t.Errorf("connect to %s succeeded while poold stops and its only worker no longer accepts; want it refused", addr)
	} else if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("connect to %s: %v; want connection refused", addr, err)
	}
	// The request in hand is still answered.
	if _, err := fmt.Fprintf(held, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(held), nil)
	if err != nil {
		t.Fatalf("the request in hand while stopping: %v", err)
	}
	resp.Body.Close()
	h.next(string(events.KindStop), func(ev events.Event) bool { return ev.Watcher == "web" })
}
