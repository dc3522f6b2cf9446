package main

import (
	"context"
	"fmt"
	"time"
)

// reps is how many times a spawn of n workers is repeated (median kept).
func reps(n int) int {
	switch {
	case n <= 10:
		return 5
	case n <= 100:
		return 3
	default:
		return 1
	}
}

func spawnTimeout(n int) time.Duration { return 30*time.Second + time.Duration(n)*100*time.Millisecond }

// spawnFigures collects, per subject, the samples of one spawn size.
type spawnFigures struct {
	first, all, answer, stop map[string][]float64
}

func (sf *spawnFigures) add(subject string, t0 time.Time, as []alive, ans answer) {
	sf.first[subject] = append(sf.first[subject], ms(as[0].at.Sub(t0)))
	sf.all[subject] = append(sf.all[subject], ms(last(as).Sub(t0)))
	if ans.err == nil && !ans.at.IsZero() {
		sf.answer[subject] = append(sf.answer[subject], ms(ans.at.Sub(t0)))
	}
}

// spawnSection: for each size, time from start to every worker alive and
// to the shared socket answering, for the floor, the floor through the
// shim, poold and the peers. (Idle cost has its own section, idle.go.)
func (b *bench) spawnSection(ctx context.Context) error {
	for _, n := range b.o.sizes {
		sf := &spawnFigures{map[string][]float64{}, map[string][]float64{}, map[string][]float64{}, map[string][]float64{}}
		for r := 0; r < reps(n); r++ {
			if err := b.spawnFloor(ctx, n, false, sf); err != nil {
				return fmt.Errorf("floor n=%d: %w", n, err)
			}
			if err := b.spawnFloor(ctx, n, true, sf); err != nil {
				b.res.note("floor through poold's shim, n=%d: %v", n, err)
			}
			if err := b.spawnManager(ctx, sPoold, b.startPoold, true, n, sf); err != nil {
				return fmt.Errorf("poold n=%d: %w", n, err)
			}
			if b.haveCircus() && n <= 100 {
				if err := b.spawnManager(ctx, sCircus, b.startCircus, true, n, sf); err != nil {
					b.res.note("circus n=%d: %v", n, err)
				}
			}
			if b.haveSupervisord() {
				if err := b.spawnManager(ctx, sSup, b.startSupervisord, false, n, sf); err != nil {
					b.res.note("supervisord n=%d: %v", n, err)
				}
			}
			if b.haveGunicorn() && n <= 100 {
				if err := b.spawnManager(ctx, sGuni, b.startGunicorn, true, n, sf); err != nil {
					b.res.note("gunicorn n=%d: %v", n, err)
				}
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
		rFirst := b.res.add("spawn", fmt.Sprintf("N=%d first alive", n), "ms")
		rAll := b.res.add("spawn", fmt.Sprintf("N=%d all alive", n), "ms")
		rAns := b.res.add("spawn", fmt.Sprintf("N=%d socket answers", n), "ms")
		rStop := b.res.add("spawn", fmt.Sprintf("N=%d stop all", n), "ms")
		for _, s := range subjects {
			rFirst.set(s, newStat(sf.first[s]))
			rAll.set(s, newStat(sf.all[s]))
			rAns.set(s, newStat(sf.answer[s]))
			rStop.set(s, newStat(sf.stop[s]))
		}
		if n == 100 {
			p, f := rAll.Values[sPoold], rAll.Values[sFloor]
			if p != nil && f != nil {
				rAll.target("<= 1.3x floor", p.Median <= 1.3*f.Median)
			}
		}
	}
	b.res.note("spawn: from the manager's exec (floor: the loop's start, socket already bound) to the workers' alive datagrams; median of 5 runs at N=10, 3 at N=100, 1 at N=1000; Circus and gunicorn are run up to N=100 (gunicorn forks Python workers, no exec)")
	return nil
}

func (b *bench) spawnFloor(ctx context.Context, n int, viaShim bool, sf *spawnFigures) error {
	b.board.drain()
	fr, err := b.startFloor(ctx, n, viaShim)
	if err != nil {
		return err
	}
	as, err := b.board.waitN(ctx, n, spawnTimeout(n))
	ans := <-fr.ansc
	took := fr.stop()
	if err != nil {
		return err
	}
	subject := sFloor
	if viaShim {
		subject = sShim
	}
	sf.add(subject, fr.t0, as, ans)
	sf.stop[subject] = append(sf.stop[subject], ms(took))
	return nil
}

// spawnManager starts one manager with n workers through start, waits for
// them all to report alive (and, when the manager shares a socket, for the
// socket to answer), and stops it.
// supervisord has no shared socket, so it gets no answering figure.
func (b *bench) spawnManager(ctx context.Context, subject string, start func(int) (*instance, time.Time, error),
	shared bool, n int, sf *spawnFigures) error {
	b.board.drain()
	in, t0, err := start(n)
	if err != nil {
		return err
	}
	defer in.stop(10 * time.Second)
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	var ansc <-chan answer
	if shared {
		ansc = startAnswering(actx, in.addr, spawnTimeout(n))
	}
	as, err := b.waitWorkers(ctx, in, n, spawnTimeout(n))
	if err != nil {
		cancel() // the manager is gone or late: stop polling its socket
	}
	var ans answer
	if shared {
		ans = <-ansc
	}
	if err != nil {
		return err
	}
	sf.add(subject, t0, as, ans)
	sf.stop[subject] = append(sf.stop[subject], ms(in.stop(20*time.Second)))
	return nil
}

// idle measures the manager process alone (not its workers) over the
// window, after a short settle, with nobody watching.
func (b *bench) idle(ctx context.Context, in *instance, n int) (idleSample, error) {
	select {
	case <-time.After(2 * time.Second):
	case <-ctx.Done():
		return idleSample{}, ctx.Err()
	}
	b.logf("idle: %s with %d workers for %s", in.kind, n, b.o.window)
	s, err := measureIdle(ctx, in.p.pid(), b.o.window)
	if err != nil {
		return s, err
	}
	w := b.o.window.String()
	cpu := b.res.add("idle", fmt.Sprintf("N=%d CPU over %s", n, w), "%").one(in.kind, s.cpuPct)
	rss := b.res.add("idle", fmt.Sprintf("N=%d RSS end", n), "MiB").one(in.kind, s.rssEnd)
	b.res.add("idle", fmt.Sprintf("N=%d RSS max", n), "MiB").one(in.kind, s.rssMax)
	gr := b.res.add("idle", fmt.Sprintf("N=%d RSS growth", n), "MiB").one(in.kind, s.rssGrowthMB)
	if in.kind == sPoold {
		// Circus without its stats daemon, gunicorn and supervisord idle
		// at 0-0.1 % of a core.
		cpu.target("<= 0.1% (nobody watching)", s.cpuPct <= 0.1)
		if n <= 100 {
			rss.target("< 20 MiB", s.rssMax < 20)
		}
		gr.target("no growth (< 1 MiB)", s.rssGrowthMB < 1)
	}
	b.mergeIdle()
	return s, nil
}

// mergeIdle folds the per-manager idle rows of the same measure into one
// row, so that poold and the peers sit side by side.
func (b *bench) mergeIdle() {
	var out []*row
	byKey := map[string]*row{}
	for _, rw := range b.res.Rows {
		if rw.Section != "idle" {
			out = append(out, rw)
			continue
		}
		k := rw.Measure
		if prev, ok := byKey[k]; ok {
			for s, v := range rw.Values {
				prev.Values[s] = v
			}
			if rw.Met != nil {
				prev.Target, prev.Met = rw.Target, rw.Met
			}
			continue
		}
		byKey[k] = rw
		out = append(out, rw)
	}
	b.res.Rows = out
}
