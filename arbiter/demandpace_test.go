package arbiter

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/proctest"
)

// paceLog is what the monitor posted, by watcher: how many readings, the
// last one, and which was the first that found a connection arrived and
// waiting (a poll of the last one could miss it: the next comes 100 ms
// later).
type paceLog struct {
	mu      sync.Mutex
	n       map[uint64]int
	last    map[uint64]demandReading
	arrival map[uint64]int
	woken   int
}

func (p *paceLog) post(m any) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, r := range m.(demandMsg).samples {
		p.n[id]++
		p.last[id] = r
		if r.arrived && r.queue > 0 && p.arrival[id] == 0 {
			if p.arrival == nil {
				p.arrival = map[uint64]int{}
			}
			p.arrival[id] = p.n[id]
		}
	}
	p.woken += len(m.(demandMsg).woken)
	return true
}

func (p *paceLog) get(id uint64) (int, demandReading) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n[id], p.last[id]
}

// TestQuietPoolIsReadSlowlyAndWokenByAConnection: a running elastic pool
// was read every 100 ms whatever its queue held (4 idle pools: 1.5 % of a
// core). Once its queue stayed empty for quietAfter it is read at its
// quiet pace (here never), beside a pool read every 100 ms; the first
// connection that waits wakes the monitor, which reads the pool at once
// (the connection counts as arrived) and every 100 ms again while it
// waits, so a burst is seen as fast as before.
func TestQuietPoolIsReadSlowlyAndWokenByAConnection(t *testing.T) {
	_, fast := listenerFD(t)
	quiet, qfd := listenerFD(t)
	log := &paceLog{n: map[uint64]int{}, last: map[uint64]demandReading{}}
	mon, err := newDemandMon(hclog.NewNullLogger(), log.post)
	if err != nil {
		t.Fatal(err)
	}
	mon.setPlan([]demandWatch{warmWatch(1, fast, 0), quietWatch(2, qfd, time.Hour)})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); mon.run(ctx) }()
	defer func() { cancel(); mon.wake(); wg.Wait() }()

	// The fast pool's readings are the clock: 40 of them are 4 s.
	proctest.Eventually(t, "40 readings of the pool read every 100ms", func() bool { n, _ := log.get(1); return n >= 40 })
	n, _ := log.get(2)
	if limit := int(quietAfter/demandSample) + 5; n > limit {
		t.Fatalf("the idle pool was read %d times while the other was read 40 times, want at most %d (its queue stayed empty, read every hour after %v)", n, limit, quietAfter)
	}

	c, err := net.Dial("tcp4", quiet.Addr().String()) // never accepted: it waits in the queue
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var woken int
	proctest.Eventually(t, "a reading of the woken pool", func() bool {
		log.mu.Lock()
		defer log.mu.Unlock()
		woken = log.arrival[2]
		return woken > n
	})
	proctest.Eventually(t, "readings every 100ms while a connection waits", func() bool {
		m, r := log.get(2)
		return m >= woken+5 && r.queue == 1 && !r.arrived
	})
	if log.woken != 0 {
		t.Errorf("a warm pool's connection was reported as waking a cold pool %d times", log.woken)
	}
}

// TestQuietEvery: a pool's quiet pace keeps its timed decisions within
// 1/idleCounts of their duration, at most quietMax; one that grows on
// BUSY reports too (demandbusy.go).
func TestQuietEvery(t *testing.T) {
	for _, c := range []struct {
		idle, down time.Duration
		busy       float64
		want       time.Duration
	}{
		{0, 30 * time.Second, 0, 30 * time.Second / idleCounts},
		{0, time.Hour, 0, quietMax},
		{10 * time.Minute, time.Hour, 0, quietMax},
		{16 * time.Second, time.Hour, 0, 500 * time.Millisecond},
		{time.Second, 30 * time.Second, 0, 0},
		{0, 500 * time.Millisecond, 0, 0},
		{0, time.Hour, 75, quietMax},
	} {
		spec := configs.Watcher{Scaling: configs.Scaling{IdleTimeout: c.idle, ScaleDownCooldown: c.down, ScaleBusyTarget: c.busy}}
		if got := quietEvery(spec); got != c.want {
			t.Errorf("idle_timeout %v, scale_down_cooldown %v, scale_busy_target %g: %v, want %v", c.idle, c.down, c.busy, got, c.want)
		}
	}
}
