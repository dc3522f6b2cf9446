package arbiter

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/poold/poold/configs"
)

// TestIdleWorkersDoNotGrowThePool: sync workers that accept late, as on a
// loaded host (mode "lagging": 250 ms after a connection waits), leave
// one client's every request in the accept queue over two readings or
// more while the other worker sits idle. That grew the pool (gunicorn, 4
// clients: 7 -> 8, 4 -> 5) and the cooldown shrank it again. The queue
// now grows the pool only by the connections no idle worker is there to
// take: one client leaves it at 2, six at once grow it.
func TestIdleWorkersDoNotGrowThePool(t *testing.T) {
	w := testWatcher("elastic", "lagging", 2)
	w.Sockets = []string{"front"}
	w.MinWorkers, w.MaxWorkers = 2, 4
	w.ScaleUpCooldown, w.ScaleDownCooldown = 100*time.Millisecond, time.Hour
	cfg := &configs.Config{Sockets: []configs.Socket{tcpSocket("front")}, Watchers: []configs.Watcher{w}}
	h := start(t, cfg, Options{})
	h.spawns(2)
	addr := h.socketAddr("front")

	seen := 0 // requests whose waiting connection a reading saw
	for i := 0; i < 8; i++ {
		done := make(chan error, 1)
		go func() {
			body, err := getWithin(addr, hang)
			if err == nil && !strings.HasPrefix(body, "pid=") {
				err = errUnexpected(body)
			}
			done <- err
		}()
		waited := false
		tick := time.NewTicker(10 * time.Millisecond)
	wait:
		for {
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("request %d: %v", i+1, err)
				}
				break wait
			case <-tick.C:
				if q, _ := h.size("elastic")["queue"].(int); q > 0 {
					waited = true
				}
			}
		}
		tick.Stop()
		if waited {
			seen++
		}
	}
	if seen < 4 {
		t.Fatalf("a reading saw the connection waiting for %d of 8 requests, want most: the workers did not accept late", seen)
	}
	if sz := h.size("elastic"); sz["current"] != 2 || sz["scales"] != 0 {
		t.Fatalf("one client at a time, the other worker idle: size %v, want 2 and no scale", sz)
	}

	// More waiting than idle workers: a growth.
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				_, _ = getWithin(addr, hang)
			}
		}()
	}
	ev := h.next("scale", nil)
	cancel()
	wg.Wait()
	if from, to := ev.Fields["from"], ev.Fields["to"].(int); from != 2 || to <= 2 || !strings.Contains(ev.Fields["reason"].(string), "accept queue") {
		t.Fatalf("6 clients on 2 workers: scale %v, want a growth from 2 by the accept queue", ev.Fields)
	}
}

type errUnexpected string

func (e errUnexpected) Error() string { return "unexpected answer " + string(e) }
