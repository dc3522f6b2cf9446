package arbiter

import (
	"errors"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/proctest"
	"github.com/poold/poold/watcher/workertest"
)

// TestServeWorkerDrainLosesNoRequest runs three rolling reloads of 4
// "serve" workers (workertest's drain, which README recommends) with
// poold's defaults, under 16 clients that never retry: once keeping their
// connections alive and sending the next request the moment an answer is
// in (wrk's way), once sending "Connection: close" on each request
// (nginx's default towards upstreams). No request may fail in either.
func TestServeWorkerDrainLosesNoRequest(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start func(addr string) *workertest.KeepAlive
	}{
		{"keep-alive", func(addr string) *workertest.KeepAlive { return workertest.StartKeepAlive(addr, 16, false) }},
		{"connection close", func(addr string) *workertest.KeepAlive { return workertest.StartConnectionClose(addr, 16) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const n = 4
			w := testWatcher("web", "serve", n)
			w.Sockets = []string{"web"}
			w.GracefulTimeout = 30 * time.Second
			h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{w}}, Options{})
			h.spawns(n)
			k := tc.start(h.socketAddr("web"))
			stopped := false
			t.Cleanup(func() {
				if !stopped {
					k.Stop()
				}
			})
			answered := func() {
				t.Helper()
				want := k.Snapshot().Requests + 200
				proctest.Eventually(t, "more requests answered", func() bool { return k.Snapshot().Requests >= want })
			}
			answered()
			for i := 0; i < 3; i++ {
				old := pidSet(h.do("list", map[string]any{"name": "web"})["pids"].([]int))
				h.do("reload", map[string]any{"name": "web", "waiting": true})
				proctest.Eventually(t, "every old worker gone from the list", func() bool {
					for _, pid := range h.do("list", map[string]any{"name": "web"})["pids"].([]int) {
						if old[pid] {
							return false
						}
					}
					return true
				})
				answered()
			}
			r := k.Stop()
			stopped = true
			t.Logf("%s load through 3 reloads: %v", tc.name, r)
			// A client whose goroutine stalled between its connect and
			// its request (a loaded machine: the dial returned 0.6 to
			// 3.5 s after it began, the connection long accepted) sent
			// nothing for the drain's window; a draining worker closes
			// such a connection as one a client keeps unused, by design
			// (KeepAliveResult.Late). Every other request is answered.
			if n := r.ErrorCount() - r.Late; n > 0 {
				t.Errorf("%d requests failed through the reloads: %v", n, r)
			}
			if r.ErrorCount() > 0 {
				for _, l := range r.ErrorLog {
					t.Log(l)
				}
			}
		})
	}
}

// TestServeWorkerDrainClosesAnUnusedConnection: a connection a "serve"
// worker had accepted and on which nothing came (a client's spare
// connection) was kept by its drain for 5 s after it was accepted, so a
// stop took that long. It has no request in flight: the drain closes it
// within its half-second window. The bound below only tells the two
// apart.
func TestServeWorkerDrainClosesAnUnusedConnection(t *testing.T) {
	w := testWatcher("web", "serve", 1)
	w.Sockets = []string{"web"}
	w.GracefulTimeout = 30 * time.Second
	h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{w}}, Options{})
	h.spawns(1)
	addr := h.socketAddr("web")
	unused, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer unused.Close()
	// An answer on a second connection: the only worker accepting took
	// the unused one first (the socket's queue is in order).
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	h.do("stop", map[string]any{"name": "web"})
	_ = unused.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := unused.Read(make([]byte, 1)); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Error("the draining worker kept a connection that carried no request for 3 s")
	}
}
