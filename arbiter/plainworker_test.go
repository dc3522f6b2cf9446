package arbiter

import (
	"regexp"
	"strconv"
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
// Two things are the worker's own matter and are not counted as poold's
// failures. Shutdown closes the kept-alive connections it sees idle, and a
// request already on its way on such a connection meets the close: the
// client sends it again on a new connection, as browsers and Go's
// Transport do (RFC 9112 9.3.1), and only a failure of that retry counts;
// the races are logged. And net/http drops a request it reads once
// Shutdown has begun on a connection accepted just before
// (golang/go#75591): that new connection closes unanswered, whoever
// signalled the worker; the plain worker counts those drops and reports
// them at its exit, and the test checks every failure against them: each
// must be a first request closed unanswered, and no more of them than the
// workers dropped. Everything poold decides (when it signals which
// worker, that the shared socket keeps accepting while workers change)
// shows as another failure, or a first request that no worker dropped.
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
	lost := r.ErrorCount()
	fail := func(why string) {
		t.Errorf("%d requests failed through the reloads (%s): %v", lost, why, r)
		for _, l := range r.ErrorLog {
			t.Log(l)
		}
	}
	if lost != r.FirstEOF {
		fail("not all of them first requests closed unanswered")
		return
	}
	if lost > 0 {
		// The old workers are gone; their reports may still be on their
		// way through the output pipes.
		proctest.Eventually(t, "the workers' own drops to account for every failure", func() bool {
			return droppedInShutdown(h.log.String()) >= lost
		})
		t.Logf("all %d failed requests were dropped by net/http in the workers' Shutdown (golang/go#75591)", lost)
	}
}

// droppedInShutdown sums what the plain workers reported dropping.
func droppedInShutdown(log string) int {
	rx := regexp.MustCompile(regexp.QuoteMeta(workertest.DroppedInShutdown) + ` (\d+)`)
	n := 0
	for _, m := range rx.FindAllStringSubmatch(log, -1) {
		v, _ := strconv.Atoi(m[1])
		n += v
	}
	return n
}
