package arbiter

import (
	"context"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher/proctest"
)

// TestElasticPoolGrowsAgainAfterAScaleDownDroppedACrashedSlot: a worker
// of wid 2 dies young (a kill -9, an OOM kill) and is replaced; the pool
// then shrinks to 0 (idle_timeout, or a decr here) while that slot still
// has its crash history. The slot has no seat any more, so its history
// must not hold the pool's growth back: under a load one worker cannot
// serve, the woken pool grows past one worker again. (It used to stay at
// one worker for good, the accept queue full, because the dropped slot
// counted as "a slot with a recent early death" forever; then, once
// wid 2 had a worker again, until that worker outlived the early period.)
func TestElasticPoolGrowsAgainAfterAScaleDownDroppedACrashedSlot(t *testing.T) {
	cfg := onDemandConfig("slow", 3, 0)
	w := &cfg.Watchers[0]
	w.ScaleUpCooldown = 50 * time.Millisecond
	// One worker per growth: the second growth (2 -> 3) is the point.
	w.ScaleUpMaxStep = 1
	// Every death is early, and the slot keeps its history while its
	// replacement runs.
	w.BackoffReset, w.FlappingWindow = time.Hour, time.Hour
	h := start(t, cfg, Options{})
	h.do("incr", map[string]any{"name": "lazy", "nb": 2, "waiting": true})
	var victim int
	for pid, wid := range h.spawns(2) {
		if wid == 2 {
			victim = pid
		}
	}
	if victim == 0 {
		t.Fatal("no worker in wid 2")
	}
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	h.next("spawn", func(ev events.Event) bool { return ev.Fields["process_id"] == 2 })
	h.do("decr", map[string]any{"name": "lazy", "nb": 2, "waiting": true})
	proctest.Eventually(t, "no worker left", func() bool {
		return h.do("numprocesses", map[string]any{"name": "lazy"})["numprocesses"] == 0
	})

	addr := h.socketAddr("front")
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				_, _ = getWithin(addr, hang)
			}
		}()
	}
	h.scaleTo(1)
	ev := h.scaleTo(2)
	if !strings.Contains(ev.Fields["reason"].(string), "accept queue") {
		t.Errorf("scale %v, want growth for the accept queue", ev.Fields)
	}
	// The worker now in wid 2 is no respawn after that death: growth goes
	// on without waiting for it to live backoff_reset (an hour here).
	h.scaleTo(3)
}
