package arbiter

import (
	"testing"
	"time"

	"github.com/poold/poold/configs"
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
		deadline := time.Now().Add(hang)
		for k.Snapshot().Requests < want {
			if time.Now().After(deadline) {
				t.Fatalf("fewer than %d requests answered within %v: %v", more, hang, k.Snapshot())
			}
			time.Sleep(10 * time.Millisecond) // polling a counter, not synchronising
		}
	}
	answered(200)
	for i := 0; i < 3; i++ {
		old := pidSet(h.do("list", map[string]any{"name": "web"})["pids"].([]int))
		h.do("reload", map[string]any{"name": "web", "waiting": true})
		deadline := time.Now().Add(hang)
		for {
			left := 0
			for _, pid := range h.do("list", map[string]any{"name": "web"})["pids"].([]int) {
				if old[pid] {
					left++
				}
			}
			if left == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("reload %d: %d old workers still listed after %v", i+1, left, hang)
			}
			time.Sleep(10 * time.Millisecond) // polling poold's list
		}
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
