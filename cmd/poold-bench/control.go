package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"time"
)

const (
	statusRuns = 30
	incrRuns   = 10
)

// controlSection: `poolctl status` as a whole process (fork, exec, connect,
// ask, print, exit) against a poold with one worker, and `poolctl incr web`
// until the new worker is alive; supervisorctl status and gunicorn's TTIN
// (sent by /usr/bin/kill, also a whole process) for comparison.
func (b *bench) controlSection(ctx context.Context) error {
	status, incr, incrCmd, err := b.controlPoold(ctx)
	if err != nil {
		return fmt.Errorf("poold: %w", err)
	}
	rs := b.res.add("control", "status, whole process", "ms").set(sPoold, newStat(status))
	if v := rs.Values[sPoold]; v != nil {
		rs.target("< 10 ms", v.Median < 10)
	}
	ri := b.res.add("control", "incr -> new worker alive", "ms").set(sPoold, newStat(incr))
	rc := b.res.add("control", "incr command, whole process", "ms").set(sPoold, newStat(incrCmd))
	if b.haveCircus() {
		s, i, ic, err := b.controlCircus(ctx)
		if err != nil {
			b.res.note("control, circus: %v", err)
		}
		rs.set(sCircus, newStat(s))
		ri.set(sCircus, newStat(i))
		rc.set(sCircus, newStat(ic))
	}
	if b.haveSupervisord() {
		s, err := b.controlSupervisord(ctx)
		if err != nil {
			b.res.note("control, supervisord: %v", err)
		}
		rs.set(sSup, newStat(s))
	}
	if b.haveGunicorn() {
		g, err := b.controlGunicorn(ctx)
		if err != nil {
			b.res.note("control, gunicorn: %v", err)
		}
		ri.set(sGuni, newStat(g))
	}
	b.res.note("control: poolctl status %d runs, incr %d runs (the pool grows 1 -> %d); peers: circusctl status and incr (%d runs each, python3 -m circus.circusctl), supervisorctl status, gunicorn `kill -TTIN` (supervisord cannot scale at run time; gunicorn has no status command)", statusRuns, incrRuns, 1+incrRuns, incrRuns)
	return nil
}

func (b *bench) controlPoold(ctx context.Context) (status, incr, incrCmd []float64, err error) {
	b.board.drain()
	in, _, err := b.startPoold(1)
	if err != nil {
		return nil, nil, nil, err
	}
	defer in.stop(10 * time.Second)
	first, err := b.board.waitN(ctx, 1, 20*time.Second)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w; log: %s", err, in.logTail())
	}
	if err := b.waitControl(ctx, in); err != nil {
		return nil, nil, nil, err
	}
	poolctl := filepath.Join(b.o.bin, "poolctl")
	for i := 0; i < statusRuns && ctx.Err() == nil; i++ {
		d, _, err := runTimed(poolctl, "--endpoint", in.ctl, "status")
		if err != nil {
			return nil, nil, nil, err
		}
		status = append(status, ms(d))
	}
	known := map[int]bool{first[0].pid: true}
	for i := 0; i < incrRuns && ctx.Err() == nil; i++ {
		t0 := time.Now()
		d, _, err := runTimed(poolctl, "--endpoint", in.ctl, "incr", "web")
		if err != nil {
			return nil, nil, nil, err
		}
		a, err := b.board.waitNew(ctx, known, 10*time.Second)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("incr %d: no new worker alive: %w; log: %s", i, err, in.logTail())
		}
		known[a.pid] = true
		incr = append(incr, ms(a.at.Sub(t0)))
		incrCmd = append(incrCmd, ms(d))
	}
	return status, incr, incrCmd, ctx.Err()
}

func (b *bench) controlSupervisord(ctx context.Context) ([]float64, error) {
	b.board.drain()
	in, _, err := b.startSupervisord(1)
	if err != nil {
		return nil, err
	}
	defer in.stop(10 * time.Second)
	if _, err := b.board.waitN(ctx, 1, 30*time.Second); err != nil {
		return nil, fmt.Errorf("%w; log: %s", err, in.logTail())
	}
	var out []float64
	deadline := time.Now().Add(20 * time.Second)
	for len(out) < statusRuns/2 && ctx.Err() == nil {
		d, _, err := runTimed("/usr/bin/supervisorctl", "-c", in.ctl, "status")
		if err != nil {
			// supervisorctl exits non-zero until its socket is up.
			if time.Now().After(deadline) {
				return out, err
			}
			time.Sleep(50 * time.Millisecond)
			continue
		}
		out = append(out, ms(d))
	}
	return out, ctx.Err()
}

func (b *bench) controlGunicorn(ctx context.Context) ([]float64, error) {
	b.board.drain()
	in, _, err := b.startGunicorn(1)
	if err != nil {
		return nil, err
	}
	defer in.stop(10 * time.Second)
	first, err := b.board.waitN(ctx, 1, 30*time.Second)
	if err != nil {
		return nil, fmt.Errorf("%w; log: %s", err, in.logTail())
	}
	known := map[int]bool{first[0].pid: true}
	var out []float64
	for i := 0; i < incrRuns && ctx.Err() == nil; i++ {
		t0 := time.Now()
		if _, _, err := runTimed("/usr/bin/kill", "-TTIN", strconv.Itoa(in.p.pid())); err != nil {
			return out, err
		}
		a, err := b.board.waitNew(ctx, known, 10*time.Second)
		if err != nil {
			return out, fmt.Errorf("TTIN %d: no new worker alive: %w; log: %s", i, err, in.logTail())
		}
		known[a.pid] = true
		out = append(out, ms(a.at.Sub(t0)))
	}
	return out, ctx.Err()
}

// controlCircus: circusctl status and circusctl incr web (whole python
// processes, as poolctl is measured), incr until the new worker is alive.
func (b *bench) controlCircus(ctx context.Context) (status, incr, incrCmd []float64, err error) {
	b.board.drain()
	in, _, err := b.startCircus(1)
	if err != nil {
		return nil, nil, nil, err
	}
	defer in.stop(10 * time.Second)
	first, err := b.board.waitN(ctx, 1, 30*time.Second)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w; log: %s", err, in.logTail())
	}
	if err := b.waitCircusControl(ctx, in); err != nil {
		return nil, nil, nil, err
	}
	for i := 0; i < incrRuns && ctx.Err() == nil; i++ {
		d, _, err := b.circusctl(in, "status")
		if err != nil {
			return status, nil, nil, err
		}
		status = append(status, ms(d))
	}
	known := map[int]bool{first[0].pid: true}
	for i := 0; i < incrRuns && ctx.Err() == nil; i++ {
		t0 := time.Now()
		d, _, err := b.circusctl(in, "incr", "web")
		if err != nil {
			return status, incr, incrCmd, err
		}
		a, err := b.board.waitNew(ctx, known, 10*time.Second)
		if err != nil {
			return status, incr, incrCmd, fmt.Errorf("incr %d: no new worker alive: %w; log: %s", i, err, in.logTail())
		}
		known[a.pid] = true
		incr = append(incr, ms(a.at.Sub(t0)))
		incrCmd = append(incrCmd, ms(d))
	}
	return status, incr, incrCmd, ctx.Err()
}
