package arbiter

import (
	"context"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher"
	"github.com/poold/poold/watcher/proctest"
)

// TestElasticPoolGrowingStaysReady: while an elastic pool grows (its new
// workers still starting), poold stays ready (/readyz): the pool serves,
// and an orchestrator that took the instance out of rotation then would
// move its load to the others exactly when it is highest. Below its
// min_workers of ready workers it is not ready.
func TestElasticPoolGrowingStaysReady(t *testing.T) {
	// The readiness probe's address: open, a worker is ready; closed, the
	// next ones stay starting.
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	w := testWatcher("el", "serve", 1)
	w.Sockets = []string{"front"}
	w.MinWorkers, w.MaxWorkers = 1, 3
	w.ScaleDownCooldown = time.Hour
	w.Readiness, w.ReadyAddress, w.ReadyTimeout = "tcp", probe.Addr().String(), time.Hour
	h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("front")}, Watchers: []configs.Watcher{w}}, Options{})
	first := h.next("ready", nil).Fields["process_pid"].(int)
	probe.Close()
	h.do("incr", map[string]any{"name": "el", "nb": 2})
	h.spawns(2)

	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	s, err := h.a.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]int{}
	for _, p := range s.Watchers[0].Processes {
		states[p.State]++
	}
	if states[watcher.ProcReady] != 1 || states[watcher.ProcStarting] != 2 {
		t.Fatalf("workers by state %v, want 1 ready and 2 starting", states)
	}
	if why := NotReady(s); len(why) > 0 {
		t.Errorf("growing from 1 to 3 workers (min_workers 1): not ready: %q", why)
	}

	// Its only ready worker gone: below min_workers, not ready.
	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	proctest.Eventually(t, "not ready below min_workers", func() bool {
		s, err := h.a.Snapshot(ctx)
		return err == nil && len(NotReady(s)) > 0
	})
}

// TestWokenPoolSaysStartingUntilAWorkerIsReady: an on_demand pool woken
// by a connection said "active" in status while its only worker was
// still starting: nothing served the connection yet. It now says
// "starting" (statuses too), as a fixed watcher does until its workers
// are ready, then "active"; /readyz stays ready throughout, as
// documented (min_workers 0: a wake is no reason to leave a Service).
func TestWokenPoolSaysStartingUntilAWorkerIsReady(t *testing.T) {
	probe := proctest.ReservePort(t) // refused: the worker stays starting
	addr := probe.Addr
	cfg := onDemandConfig("serve", 2, 0)
	cfg.Watchers[0].Readiness, cfg.Watchers[0].ReadyAddress, cfg.Watchers[0].ReadyTimeout = "tcp", addr, time.Hour
	h := start(t, cfg, Options{})
	status := func() (string, any) {
		return h.do("status", map[string]any{"name": "lazy"})["status"].(string), h.do("status", nil)["statuses"].(map[string]any)["lazy"]
	}
	proctest.Eventually(t, "the cold pool is active", func() bool { one, all := status(); return one == "active" && all == "active" })

	c, err := net.Dial("tcp", h.socketAddr("front")) // waits in the backlog
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	h.scaleTo(1)
	if one, all := status(); one != "starting" || all != "starting" {
		t.Errorf("woken pool with its worker starting: status %q, statuses %q; want starting", one, all)
	}
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	if s, err := h.a.Snapshot(ctx); err != nil || len(NotReady(s)) > 0 {
		t.Errorf("woken on_demand pool (min_workers 0): not ready %v, %v; want ready", NotReady(s), err)
	}

	probe.Listen(t)
	proctest.Eventually(t, "active once its worker is ready", func() bool { one, all := status(); return one == "active" && all == "active" })
}
