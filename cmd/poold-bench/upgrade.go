package main

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// upgradeWorkers and upgradeRuns size the upgrade section.
const (
	upgradeWorkers = 8
	upgradeRuns    = 10
)

// acceptProber opens a new connection and makes one request on it, again
// and again, and records the longest time between two answered ones (a
// refused or failed connection counts, and stretches the gap).
type acceptProber struct {
	addr    string
	stop    chan struct{}
	done    chan struct{}
	mu      sync.Mutex
	ok      int
	failed  int
	longest time.Duration
}

func startAcceptProber(addr string) *acceptProber {
	p := &acceptProber{addr: addr, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		last := time.Now()
		for {
			select {
			case <-p.stop:
				return
			default:
			}
			_, err := httpPid(p.addr, 5*time.Second)
			now := time.Now()
			p.mu.Lock()
			if err != nil {
				p.failed++
			} else {
				p.ok++
				p.longest = max(p.longest, now.Sub(last))
				last = now
			}
			p.mu.Unlock()
		}
	}()
	return p
}

func (p *acceptProber) end() (ok, failed int, longest time.Duration) {
	close(p.stop)
	<-p.done
	return p.ok, p.failed, p.longest
}

// upgradeSection: poold with 8 workers upgrades itself in place again and
// again (the same binary) while a prober connects to the shared socket.
// Measured: poolctl upgrade until it has the new image's outcome, then a
// status answered; the server side (command to adoption done); the
// longest gap between accepted connections, against the same prober's
// longest gap without upgrades.
func (b *bench) upgradeSection(ctx context.Context) error {
	b.board.drain()
	in, _, err := b.startPoold(upgradeWorkers)
	if err != nil {
		return err
	}
	defer in.stop(10 * time.Second)
	if _, err = b.board.waitN(ctx, upgradeWorkers, 20*time.Second); err != nil {
		return fmt.Errorf("%w; log: %s", err, in.logTail())
	}
	if err = b.waitControl(ctx, in); err != nil {
		return err
	}
	base := startAcceptProber(in.addr)
	if err := sleepUntil(ctx, time.Now().Add(2*time.Second)); err != nil {
		base.end()
		return err
	}
	_, baseFailed, baseGap := base.end()
	pr := startAcceptProber(in.addr)
	var total, server []float64
	for i := 0; i < upgradeRuns && ctx.Err() == nil; i++ {
		t0 := time.Now()
		r, err := b.poolctl(in.ctl, "upgrade")
		if err == nil {
			_, err = b.poolctl(in.ctl, "status")
		}
		if err != nil {
			pr.end()
			return fmt.Errorf("upgrade %d: %w; log: %s", i+1, err, in.logTail())
		}
		total = append(total, ms(time.Since(t0)))
		if o, _ := r["upgrade"].(map[string]any); o != nil {
			began, e1 := time.Parse(time.RFC3339Nano, fmt.Sprint(o["began"]))
			took, e2 := time.Parse(time.RFC3339Nano, fmt.Sprint(o["took_over"]))
			if e1 == nil && e2 == nil {
				server = append(server, ms(took.Sub(began)))
			}
		}
	}
	ok, failed, gap := pr.end()
	b.rowFor("upgrade", "poolctl upgrade + status answered", "ms").set(sPoold, newStat(total))
	b.rowFor("upgrade", "command to workers adopted (server side)", "ms").set(sPoold, newStat(server))
	b.rowFor("upgrade", "longest accept gap, no upgrade", "ms").one(sPoold, ms(baseGap))
	b.rowFor("upgrade", "longest accept gap during upgrades", "ms").one(sPoold, ms(gap)).
		target("under 50 ms more than without", ms(gap)-ms(baseGap) < 50)
	b.rowFor("upgrade", "failed connections during upgrades", "count").one(sPoold, float64(failed+baseFailed)).
		target("zero", failed+baseFailed == 0)
	b.res.note("upgrade: %d in-place upgrades of poold with %d workers; a prober made %d requests, each on a new connection, during them", len(total), upgradeWorkers, ok+failed)
	return nil
}
