package arbiter

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher/proctest"
)

// onDemandConfig is one on_demand watcher of mode on socket "front".
func onDemandConfig(mode string, maxWorkers int, idle time.Duration) *configs.Config {
	w := testWatcher("lazy", mode, 0)
	w.Sockets = []string{"front"}
	w.OnDemand, w.MaxWorkers, w.IdleTimeout = true, maxWorkers, idle
	return &configs.Config{Sockets: []configs.Socket{tcpSocket("front")}, Watchers: []configs.Watcher{w}}
}

// getWithin fetches / from addr on a fresh connection, waiting up to
// timeout for the answer: a cold pool's worker may be slow to start on a
// loaded machine, and only a hang should fail a test.
func getWithin(addr string, timeout time.Duration) (string, error) {
	c := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + addr + "/")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// scaleTo waits for the next scale event of watcher lazy to n workers.
func (h *harness) scaleTo(n int) events.Event {
	h.t.Helper()
	return h.next("scale", func(ev events.Event) bool { return ev.Fields["to"] == n })
}

func (h *harness) size(name string) map[string]any {
	h.t.Helper()
	return h.do("status", map[string]any{"name": name})["size"].(map[string]any)
}

// TestOnDemandStartsOnFirstConnection: an on_demand pool runs no worker
// until a connection waits; that connection is then served (not refused,
// not accepted by poold), and after idle_timeout the pool is back to 0,
// ready to start again on the next connection.
func TestOnDemandStartsOnFirstConnection(t *testing.T) {
	h := start(t, onDemandConfig("serve", 2, 300*time.Millisecond), Options{})
	proctest.Eventually(t, "the pool is active", func() bool {
		return h.do("status", map[string]any{"name": "lazy"})["status"] == "active"
	})
	if sz := h.size("lazy"); sz["current"] != 0 || sz["min"] != 0 || sz["max"] != 2 {
		t.Fatalf("cold pool size %v, want current 0, min 0, max 2", sz)
	}
	if n := h.do("numprocesses", map[string]any{"name": "lazy"})["numprocesses"]; n != 0 {
		t.Fatalf("%v workers before any connection, want 0", n)
	}
	addr := h.socketAddr("front")
	for round := 1; round <= 2; round++ {
		begin := time.Now()
		body, err := getWithin(addr, hang)
		if err != nil || !strings.HasPrefix(body, "pid=") {
			t.Fatalf("round %d: first request to a cold pool: %q, %v", round, body, err)
		}
		t.Logf("round %d: time to first byte from a cold pool: %v", round, time.Since(begin))
		up := h.scaleTo(1)
		if up.Fields["from"] != 0 || !strings.Contains(up.Fields["reason"].(string), "on demand") {
			t.Errorf("scale up %v, want from 0 on demand", up.Fields)
		}
		// (A worker slow to start may be joined by a second one: with
		// readiness "spawn" it counts as proven after scale_up_cooldown.)
		down := h.scaleTo(0)
		if !strings.Contains(down.Fields["reason"].(string), "idle") {
			t.Errorf("scale down %v, want idle", down.Fields)
		}
		h.next("exit", nil) // a scale-down retires on purpose: kill and exit, no reap (as circusd)
		proctest.Eventually(t, "no worker left", func() bool {
			return h.do("numprocesses", map[string]any{"name": "lazy"})["numprocesses"] == 0
		})
	}
	last := h.size("lazy")["last_scale"].(map[string]any)
	if last["to"] != 0 || !strings.Contains(last["reason"].(string), "idle") {
		t.Errorf("status last_scale %v, want to 0 for idle", last)
	}
}

// TestOnDemandServesConcurrentFirstConnections: 200 connections arrive at
// once at a cold pool; every one is served.
func TestOnDemandServesConcurrentFirstConnections(t *testing.T) {
	h := start(t, onDemandConfig("serve", 2, 0), Options{})
	addr := h.socketAddr("front")
	const n = 200
	var wg sync.WaitGroup
	var failed atomic.Int64
	var first atomic.Value
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if body, err := getWithin(addr, hang); err != nil || !strings.HasPrefix(body, "pid=") {
				failed.Add(1)
				first.CompareAndSwap(nil, err)
			}
		}()
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		t.Fatalf("%d of %d first connections failed; first error: %v", f, n, first.Load())
	}
	if up := h.scaleTo(1); up.Fields["from"] != 0 {
		t.Errorf("scale %v, want 0 -> 1", up.Fields)
	}
}

// TestAutoscaleFollowsTheAcceptQueue: under a load (16 clients) that one
// synchronous worker cannot serve alone, the pool grows from min_workers
// to max_workers while the accept queue stays above the target, each
// growth sized by the queue (scale_up_max_step 0) or one at a time
// (scale_up_max_step 1, the behaviour before), each once the previous
// workers are ready; when the load stops it shrinks back one step per
// cooldown. No request fails throughout.
func TestAutoscaleFollowsTheAcceptQueue(t *testing.T) {
	for _, maxStep := range []int{0, 1} {
		t.Run(fmt.Sprintf("scale_up_max_step=%d", maxStep), func(t *testing.T) { autoscaleFollowsTheQueue(t, maxStep) })
	}
}

func autoscaleFollowsTheQueue(t *testing.T, maxStep int) {
	w := testWatcher("elastic", "slow", 1)
	w.Sockets = []string{"front"}
	w.MinWorkers, w.MaxWorkers, w.ScaleUpMaxStep = 1, 4, maxStep
	w.ScaleUpCooldown, w.ScaleDownCooldown = 100*time.Millisecond, 500*time.Millisecond
	cfg := &configs.Config{Sockets: []configs.Socket{tcpSocket("front")}, Watchers: []configs.Watcher{w}}
	h := start(t, cfg, Options{})
	h.spawns(1)
	addr := h.socketAddr("front")

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var served, failed atomic.Int64
	var firstErr atomic.Value
	const clients = 16
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if body, err := getWithin(addr, hang); err != nil || !strings.HasPrefix(body, "pid=") {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
				} else {
					served.Add(1)
				}
			}
		}()
	}
	began := time.Now()
	for size := 1; size < 4; {
		ev := h.next("scale", nil)
		from, to := ev.Fields["from"].(int), ev.Fields["to"].(int)
		if from != size || to <= from || (maxStep > 0 && to-from > maxStep) || !strings.Contains(ev.Fields["reason"].(string), "accept queue") {
			t.Fatalf("scale %v, want a growth from %d for the accept queue (scale_up_max_step %d)", ev.Fields, size, maxStep)
		}
		t.Logf("%v after the load began: scale %v -> %v (queue %v)", time.Since(began).Round(time.Millisecond), from, to, ev.Fields["queue"])
		size = to
	}
	cancel()
	wg.Wait()
	stopped := time.Now()
	for size := 3; size >= 1; size-- {
		ev := h.scaleTo(size)
		t.Logf("%v after the load stopped: scale %v -> %v", time.Since(stopped).Round(time.Millisecond), ev.Fields["from"], ev.Fields["to"])
	}
	if f := failed.Load(); f > 0 {
		t.Fatalf("%d requests failed (%d served); first error: %v", f, served.Load(), firstErr.Load())
	}
	t.Logf("%d requests served, none failed", served.Load())
	if sz := h.size("elastic"); sz["current"] != 1 || sz["min"] != 1 || sz["max"] != 4 {
		t.Errorf("size after the load %v, want 1 of 1..4", sz)
	}
}

// TestCrashingOnDemandPoolDoesNotScaleInALoop: a worker that dies on
// start in an on_demand pool with a connection waiting: the pool starts
// once (0 -> 1) and the crash policy (backoff, then flapping) handles the
// deaths; the waiting connection is no reason to start more workers.
func TestCrashingOnDemandPoolDoesNotScaleInALoop(t *testing.T) {
	cfg := onDemandConfig("crash", 4, 0)
	w := &cfg.Watchers[0]
	// No cooldown: only the gates hold growth back. The first worker is
	// "starting" until it dies (its readiness delay is longer than its
	// life); after that the slot's early deaths gate it.
	w.ScaleUpCooldown = 0
	w.Readiness, w.ReadyDelay = "delay", 5*time.Second
	w.FlappingAttempts, w.FlappingWindow, w.FlappingRetryIn = 3, time.Minute, time.Minute
	w.BackoffMin = 10 * time.Millisecond
	h := start(t, cfg, Options{})
	c, err := net.Dial("tcp", h.socketAddr("front"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	h.next("flapping", nil)
	sz := h.size("lazy")
	if sz["current"] != 1 || sz["scales"] != 1 {
		t.Errorf("after flapping: size %v, want 1 worker after one scale", sz)
	}
}

// TestManualScaleStaysWithinBounds: incr, decr and set numprocesses on an
// elastic pool move its size within min_workers..max_workers, each move a
// scale event; a config-style set of the bounds clamps the size.
func TestManualScaleStaysWithinBounds(t *testing.T) {
	w := testWatcher("el", "serve", 2)
	w.Sockets = []string{"front"}
	w.MinWorkers, w.MaxWorkers = 1, 3
	w.ScaleDownCooldown = time.Hour // nothing but the commands moves it
	h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("front")}, Watchers: []configs.Watcher{w}}, Options{})
	h.spawns(2)
	for _, tc := range []struct {
		cmd   string
		props map[string]any
		want  int
	}{
		{"incr", map[string]any{"nb": 10}, 3},
		{"decr", map[string]any{"nb": 10}, 1},
		{"set", map[string]any{"options": map[string]any{"numprocesses": 2}}, 2},
		{"set", map[string]any{"options": map[string]any{"numprocesses": 9}}, 3},
		{"set", map[string]any{"options": map[string]any{"max_workers": 2}}, 2},
	} {
		tc.props["name"], tc.props["waiting"] = "el", true
		h.do(tc.cmd, tc.props)
		if sz := h.size("el"); sz["current"] != tc.want {
			t.Errorf("%s %v: size %v, want current %d", tc.cmd, tc.props, sz, tc.want)
		}
		if n := h.do("numprocesses", map[string]any{"name": "el"})["numprocesses"]; n != tc.want {
			t.Errorf("%s %v: %v workers, want %d", tc.cmd, tc.props, n, tc.want)
		}
	}
	ev := h.scaleTo(3)
	if !strings.Contains(ev.Fields["reason"].(string), "manual") {
		t.Errorf("incr's scale event %v, want a manual reason", ev.Fields)
	}
}

// TestAutoscaleOnBusyWorkers: with scale_busy_target and an accept-queue
// target too high to matter, workers reporting BUSY=1 on the notify
// socket drive the growth; the pool shrinks once they report BUSY=0.
func TestAutoscaleOnBusyWorkers(t *testing.T) {
	w := testWatcher("busy", "slow", 1)
	w.Sockets = []string{"front"}
	w.MinWorkers, w.MaxWorkers = 1, 3
	w.ScaleQueueTarget, w.ScaleBusyTarget = 100000, 50
	w.ScaleUpCooldown, w.ScaleDownCooldown = 100*time.Millisecond, 300*time.Millisecond
	cfg := &configs.Config{Sockets: []configs.Socket{tcpSocket("front")}, Watchers: []configs.Watcher{w}}
	h := start(t, cfg, Options{})
	h.spawns(1)
	addr := h.socketAddr("front")
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var failed atomic.Int64
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if _, err := getWithin(addr, hang); err != nil {
					failed.Add(1)
				}
			}
		}()
	}
	ev := h.scaleTo(2)
	if !strings.Contains(ev.Fields["reason"].(string), "workers busy") {
		t.Errorf("scale %v, want a busy reason", ev.Fields)
	}
	h.scaleTo(3)
	cancel()
	wg.Wait()
	h.scaleTo(2)
	h.scaleTo(1)
	if f := failed.Load(); f > 0 {
		t.Errorf("%d requests failed", f)
	}
}

// grownElastic starts an elastic pool "el" of numprocesses 2 (1..4, no
// shrink for an hour) and grows it to 4 with incr.
func grownElastic(t *testing.T) *harness {
	t.Helper()
	w := testWatcher("el", "serve", 2)
	w.Sockets = []string{"front"}
	w.MinWorkers, w.MaxWorkers = 1, 4
	w.ScaleDownCooldown = time.Hour
	h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("front")}, Watchers: []configs.Watcher{w}}, Options{})
	h.spawns(2)
	h.do("incr", map[string]any{"name": "el", "nb": 2, "waiting": true})
	return h
}

// TestElasticRestartBeginsFromNumprocesses: a stop and start of an
// elastic pool begins again at its configured numprocesses, not at the
// size it had grown to.
func TestElasticRestartBeginsFromNumprocesses(t *testing.T) {
	h := grownElastic(t)
	h.do("stop", map[string]any{"name": "el", "waiting": true})
	h.do("start", map[string]any{"name": "el", "waiting": true})
	if n := h.do("numprocesses", map[string]any{"name": "el"})["numprocesses"]; n != 2 {
		t.Errorf("%v workers after stop and start, want numprocesses 2", n)
	}
}

// TestElasticStopSaysItsSizeChanged: the stop that takes an elastic pool
// back to its configured numprocesses is a change of size like any other:
// a scale event and status's last_scale say so, rather than a size of 2
// beside a last scale "2 -> 4".
func TestElasticStopSaysItsSizeChanged(t *testing.T) {
	h := grownElastic(t)
	h.scaleTo(4)
	h.do("stop", map[string]any{"name": "el", "waiting": true})
	sz := h.size("el")
	last, _ := sz["last_scale"].(map[string]any)
	if sz["current"] != 2 || last["from"] != 4 || last["to"] != 2 || !strings.Contains(last["reason"].(string), "stopped") {
		t.Fatalf("status after a stop of a pool grown to 4: size %v, want current 2 and last_scale 4 -> 2 for the stop", sz)
	}
	if ev := h.scaleTo(2); ev.Fields["from"] != 4 {
		t.Errorf("scale event %v, want 4 -> 2", ev.Fields)
	}
}
