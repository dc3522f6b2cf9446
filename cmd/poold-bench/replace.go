package main

import (
	"context"
	"fmt"
	"math"
	"strings"
	"syscall"
	"time"

	"github.com/poold/poold/events/zmqpub"
)

// pace is the least age of a worker before it is killed: more than the
// bench config's backoff_reset, so every kill is a healthy worker's death.
const pace = 250 * time.Millisecond

// circusCheckDelay is Circus's check_delay (its default, which the bench
// keeps): Circus reaps and respawns only on this periodic check.
const circusCheckDelay = 5 * time.Second

// killDelay is how long after pace kill i comes, the same for every
// manager: phases spread evenly over [0, circusCheckDelay) (the golden
// ratio sequence, so any number of kills covers the period), so that a
// kill is not always in the same place in Circus's check period (a fixed
// phase gives always its worst or always its best case). The warm-up
// kill (i = 0) has none.
func killDelay(i int) time.Duration {
	const phi = 0.6180339887498949
	_, frac := math.Modf(float64(i) * phi)
	return time.Duration(frac * float64(circusCheckDelay))
}

// circusKills caps Circus's kills in the replace section.
const circusKills = 20

type replaceFigures struct {
	killSpawn, reapSpawn, killAlive, killHTTP, killReapRecv []float64
}

// replaceSection: kill -9 of the only worker, median and p99 over
// o.kills kills (one more as a warm-up), for poold, supervisord and
// gunicorn; poold's figures also give the events row (kill to the reap
// event at a subscriber).
func (b *bench) replaceSection(ctx context.Context) error {
	pf, err := b.replacePoold(ctx)
	if err != nil {
		return fmt.Errorf("poold: %w", err)
	}
	var cf, sf, gf *replaceFigures
	if b.haveCircus() {
		if cf, err = b.replacePeer(ctx, sCircus); err != nil {
			b.res.note("replace, circus: %v", err)
		}
	}
	if b.haveSupervisord() {
		if sf, err = b.replacePeer(ctx, sSup); err != nil {
			b.res.note("replace, supervisord: %v", err)
		}
	}
	if b.haveGunicorn() {
		if gf, err = b.replacePeer(ctx, sGuni); err != nil {
			b.res.note("replace, gunicorn: %v", err)
		}
	}
	r := b.res.add("replace", "kill -9 -> spawn event (death->exec)", "ms").set(sPoold, newStat(pf.killSpawn))
	if v := r.Values[sPoold]; v != nil {
		r.target("median < 5 ms", v.Median < 5)
	}
	b.res.add("replace", "reap event -> spawn event", "ms").set(sPoold, newStat(pf.reapSpawn))
	ra := b.res.add("replace", "kill -9 -> new worker alive", "ms").set(sPoold, newStat(pf.killAlive))
	rh := b.res.add("replace", "kill -9 -> new pid answers HTTP", "ms").set(sPoold, newStat(pf.killHTTP))
	re := b.res.add("events", "kill -9 -> reap event at subscriber", "ms").set(sPoold, newStat(pf.killReapRecv))
	if cf != nil {
		ra.set(sCircus, newStat(cf.killAlive))
		rh.set(sCircus, newStat(cf.killHTTP))
		re.set(sCircus, newStat(cf.killReapRecv))
	}
	if sf != nil {
		ra.set(sSup, newStat(sf.killAlive))
	}
	if gf != nil {
		ra.set(sGuni, newStat(gf.killAlive))
		rh.set(sGuni, newStat(gf.killHTTP))
	}
	b.res.note("replace: one worker, killed %d times (after a warm-up kill), each %s plus a delay after it started, the delays spread evenly over Circus's check_delay (%s) and the same for every manager, so that a kill falls at every phase of Circus's periodic respawn check; spawn/reap event times are poold's own timestamps; \"alive\" is the new worker's own clock when it holds its listener; Circus is killed %d times; supervisord has no shared socket, so no HTTP figure; the reap event is read from poold's and Circus's PUB socket by poold's own subscriber (supervisord and gunicorn publish none)", b.o.kills, pace, circusCheckDelay, min(b.o.kills, circusKills))
	return nil
}

func (b *bench) replacePoold(ctx context.Context) (*replaceFigures, error) {
	b.board.drain()
	in, _, err := b.startPoold(1)
	if err != nil {
		return nil, err
	}
	defer in.stop(10 * time.Second)
	first, err := b.board.waitN(ctx, 1, 20*time.Second)
	if err != nil {
		return nil, fmt.Errorf("%w; log: %s", err, in.logTail())
	}
	if err := b.waitControl(ctx, in); err != nil {
		return nil, err
	}
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	sub, err := zmqpub.Dial(dctx, in.pub, "watcher.web.")
	cancel()
	if err != nil {
		return nil, err
	}
	defer sub.Close()

	f := &replaceFigures{}
	cur := first[0]
	for i := 0; i <= b.o.kills; i++ {
		if err := sleepUntil(ctx, cur.at.Add(pace+killDelay(i))); err != nil {
			return nil, err
		}
		t0 := time.Now()
		if err := syscall.Kill(cur.pid, syscall.SIGKILL); err != nil {
			return nil, fmt.Errorf("kill worker %d: %w", cur.pid, err)
		}
		httpc := startHTTPNewPid(in.addr, cur.pid)
		reapRecv, reapT, spawnT, newPid, evErr := waitReplaceEvents(ctx, sub, cur.pid, 5*time.Second)
		a, aErr := b.board.waitNew(ctx, map[int]bool{cur.pid: true}, 10*time.Second)
		h := <-httpc
		switch {
		case aErr != nil:
			return nil, fmt.Errorf("kill %d: no new worker alive: %w; log: %s", i, aErr, in.logTail())
		case h.err != nil:
			return nil, fmt.Errorf("kill %d: %w", i, h.err)
		}
		cur = a
		if i == 0 {
			continue // warm-up: also proves the subscription is live
		}
		f.killAlive = append(f.killAlive, ms(a.at.Sub(t0)))
		f.killHTTP = append(f.killHTTP, ms(h.at.Sub(t0)))
		if evErr != nil {
			b.res.note("replace kill %d: events: %v", i, evErr)
			continue
		}
		if newPid != a.pid {
			b.res.note("replace kill %d: spawn event pid %d, alive pid %d", i, newPid, a.pid)
		}
		f.killReapRecv = append(f.killReapRecv, ms(reapRecv.Sub(t0)))
		f.killSpawn = append(f.killSpawn, ms(spawnT.Sub(t0)))
		f.reapSpawn = append(f.reapSpawn, ms(spawnT.Sub(reapT)))
	}
	return f, nil
}

// replacePeer is the same loop for Circus (alive, HTTP and the reap
// event), supervisord (alive only) and gunicorn (alive and HTTP).
func (b *bench) replacePeer(ctx context.Context, kind string) (*replaceFigures, error) {
	b.board.drain()
	start := map[string]func(int) (*instance, time.Time, error){
		sCircus: b.startCircus, sSup: b.startSupervisord, sGuni: b.startGunicorn}[kind]
	in, _, err := start(1)
	if err != nil {
		return nil, err
	}
	defer in.stop(10 * time.Second)
	first, err := b.board.waitN(ctx, 1, 30*time.Second)
	if err != nil {
		return nil, fmt.Errorf("%w; log: %s", err, in.logTail())
	}
	var sub *zmqpub.Subscriber
	kills := b.o.kills
	if kind == sCircus {
		if sub, err = b.circusEvents(ctx, in); err != nil {
			return nil, err
		}
		defer sub.Close()
		// Circus respawns on its periodic check (check_delay, 5 s):
		// fewer kills keep the run short.
		kills = min(kills, circusKills)
	}
	return b.peerKills(ctx, kind, in, sub, first[0], kills)
}

// peerKills kills the peer's only worker kills times after a warm-up
// kill; sub, when not nil, gives the reap event.
func (b *bench) peerKills(ctx context.Context, kind string, in *instance, sub *zmqpub.Subscriber, cur alive, kills int) (*replaceFigures, error) {
	f := &replaceFigures{}
	for i := 0; i <= kills; i++ {
		if err := sleepUntil(ctx, cur.at.Add(pace+killDelay(i))); err != nil {
			return nil, err
		}
		t0 := time.Now()
		if err := syscall.Kill(cur.pid, syscall.SIGKILL); err != nil {
			return nil, fmt.Errorf("kill worker %d: %w", cur.pid, err)
		}
		var httpc <-chan answer
		if in.addr != "" {
			httpc = startHTTPNewPid(in.addr, cur.pid)
		}
		var reapRecv time.Time
		var reapErr error
		if sub != nil {
			reapRecv, reapErr = waitReap(ctx, sub, cur.pid, 10*time.Second)
		}
		a, err := b.board.waitNew(ctx, map[int]bool{cur.pid: true}, 30*time.Second)
		if err != nil {
			return nil, fmt.Errorf("kill %d: no new worker alive: %w; log: %s", i, err, in.logTail())
		}
		var h answer
		if httpc != nil {
			if h = <-httpc; h.err != nil {
				return nil, fmt.Errorf("kill %d: %w", i, h.err)
			}
		}
		cur = a
		if i == 0 {
			continue
		}
		f.killAlive = append(f.killAlive, ms(a.at.Sub(t0)))
		if httpc != nil {
			f.killHTTP = append(f.killHTTP, ms(h.at.Sub(t0)))
		}
		if sub != nil {
			if reapErr != nil {
				b.res.note("replace, %s kill %d: %v", kind, i, reapErr)
			} else {
				f.killReapRecv = append(f.killReapRecv, ms(reapRecv.Sub(t0)))
			}
		}
	}
	return f, nil
}

// startHTTPNewPid asks addr, on fresh connections, until a pid other than
// old answers (the connection waits in the shared backlog meanwhile).
func startHTTPNewPid(addr string, old int) <-chan answer {
	ch := make(chan answer, 1)
	go func() {
		deadline := time.Now().Add(10 * time.Second)
		for {
			pid, err := httpPid(addr, time.Until(deadline))
			if err == nil && pid != old {
				ch <- answer{at: time.Now()}
				return
			}
			if time.Now().After(deadline) {
				if err == nil {
					err = fmt.Errorf("only the killed pid %d answered", old)
				}
				ch <- answer{err: fmt.Errorf("GET %s after kill: %w", addr, err)}
				return
			}
			time.Sleep(200 * time.Microsecond)
		}
	}()
	return ch
}

// waitReplaceEvents reads the event stream until the reap of pid and the
// next spawn, returning when the reap arrived here, and poold's own times
// of the reap and the spawn.
func waitReplaceEvents(ctx context.Context, sub *zmqpub.Subscriber, pid int, d time.Duration) (reapRecv, reapT, spawnT time.Time, newPid int, err error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for {
		topic, p, err := sub.Recv(ctx)
		if err != nil {
			return reapRecv, reapT, spawnT, 0, err
		}
		now := time.Now()
		ppid, _ := p["process_pid"].(float64)
		switch {
		case strings.HasSuffix(topic, ".reap") && int(ppid) == pid:
			reapRecv, reapT = now, evTime(p)
		case strings.HasSuffix(topic, ".spawn") && !reapT.IsZero():
			return reapRecv, reapT, evTime(p), int(ppid), nil
		}
	}
}

func evTime(p map[string]any) time.Time {
	t, _ := p["time"].(float64)
	sec := int64(t)
	return time.Unix(sec, int64((t-float64(sec))*1e9))
}

func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
