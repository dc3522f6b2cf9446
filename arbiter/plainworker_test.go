package arbiter

import (
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/proctest"
	"github.com/poold/poold/watcher/workertest"
)

// TestPlainWorkerKeepAliveThroughRollingReloads keeps 16 kept-alive
// connections busy, each sending its next request the moment the last is
// answered (as wrk does), through three rolling reloads of 8 plain
// workers: workers that only call http.Server.Shutdown on SIGTERM, with
// poold's defaults (readiness spawn, max_surge 1). No request may fail.
//
// One thing is the worker's own matter and is not counted as a failure:
// Shutdown closes the kept-alive connections it sees idle, and a request
// already on its way on such a connection meets the close. The client
// then sends it again on a new connection, as browsers and Go's Transport
// do (RFC 9112 9.3.1), and only a failure of that retry counts; the
// races are logged. Everything poold decides (when it signals which
// worker, that the shared socket keeps accepting while workers change)
// shows as a failed request on a new connection, a timeout or a refused
// connection.
func TestPlainWorkerKeepAliveThroughRollingReloads(t *testing.T) {
	const n = 8
	w := testWatcher("web", "plain", n)
	w.Sockets = []string{"web"}
	w.GracefulTimeout = 30 * time.Second
	h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{w}}, Options{})
	h.spawns(n)
	addr := h.socketAddr("web")
	k := workertest.StartKeepAlive(addr, 16, true)
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			k.Stop()
		}
	})
	answered := func(more int) {
		t.Helper()
		want := k.Snapshot().Requests + more
		proctest.Eventually(t, "more requests answered", func() bool { return k.Snapshot().Requests >= want })
	}
	answered(200)
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
		answered(200)
	}
	r := k.Stop()
	stopped = true
	t.Logf("keep-alive load through 3 reloads: %v", r)
	if r.ErrorCount() != 0 {
		t.Errorf("%d requests failed through the reloads: %v", r.ErrorCount(), r)
		for _, l := range r.ErrorLog {
			t.Log(l)
		}
	}
}
