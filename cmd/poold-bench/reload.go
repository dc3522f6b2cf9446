package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	reloadWorkers = 4
	wrkThreads    = 2
	wrkConns      = 32
)

// wrkResult is what wrk reports.
type wrkResult struct {
	requests                      float64
	connect, read, write, timeout float64
	non2xx                        float64
	p50, p99, rps                 float64 // ms, ms, requests/s
	raw                           string
}

func (w wrkResult) errors() float64 { return w.connect + w.read + w.write + w.timeout + w.non2xx }

var (
	reRequests = regexp.MustCompile(`(\d+) requests in`)
	reSockErr  = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	reNon2xx   = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	reLat      = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$`)
	reRPS      = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
)

func parseWrk(out string) (wrkResult, error) {
	w := wrkResult{raw: out}
	m := reRequests.FindStringSubmatch(out)
	if m == nil {
		return w, fmt.Errorf("cannot read wrk's output: %q", out)
	}
	w.requests, _ = strconv.ParseFloat(m[1], 64)
	if m := reSockErr.FindStringSubmatch(out); m != nil {
		w.connect, _ = strconv.ParseFloat(m[1], 64)
		w.read, _ = strconv.ParseFloat(m[2], 64)
		w.write, _ = strconv.ParseFloat(m[3], 64)
		w.timeout, _ = strconv.ParseFloat(m[4], 64)
	}
	if m := reNon2xx.FindStringSubmatch(out); m != nil {
		w.non2xx, _ = strconv.ParseFloat(m[1], 64)
	}
	for _, m := range reLat.FindAllStringSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		switch m[3] {
		case "us":
			v /= 1000
		case "s":
			v *= 1000
		}
		if m[1] == "50" {
			w.p50 = v
		} else {
			w.p99 = v
		}
	}
	if m := reRPS.FindStringSubmatch(out); m != nil {
		w.rps, _ = strconv.ParseFloat(m[1], 64)
	}
	return w, nil
}

// startWrk starts wrk against addr for d; the channel yields its result.
func (b *bench) startWrk(addr string, d time.Duration) (<-chan wrkResult, <-chan error, error) {
	var out bytes.Buffer
	cmd := exec.Command("/usr/bin/wrk", "-t"+strconv.Itoa(wrkThreads), "-c"+strconv.Itoa(wrkConns),
		"-d"+strconv.Itoa(int(d.Seconds()))+"s", "--timeout", "2s", "--latency", "http://"+addr+"/")
	cmd.Stdout, cmd.Stderr = &out, &out
	p, err := b.procs.start("wrk", cmd)
	if err != nil {
		return nil, nil, err
	}
	resc := make(chan wrkResult, 1)
	errc := make(chan error, 1)
	go func() {
		<-p.done
		if p.err != nil {
			errc <- fmt.Errorf("wrk: %w: %s", p.err, out.String())
			return
		}
		w, err := parseWrk(out.String())
		if err != nil {
			errc <- err
			return
		}
		resc <- w
	}()
	return resc, errc, nil
}

func waitWrk(ctx context.Context, resc <-chan wrkResult, errc <-chan error) (wrkResult, error) {
	select {
	case w := <-resc:
		return w, nil
	case err := <-errc:
		return wrkResult{}, err
	case <-ctx.Done():
		return wrkResult{}, ctx.Err()
	}
}

// reloadSection: wrk against the shared socket of 4 workers, first alone
// (baseline), then while the pool is reloaded over and over (poold:
// `poolctl --waiting reload web`, graceful; gunicorn: HUP, waiting for 4
// new workers alive between two).
func (b *bench) reloadSection(ctx context.Context) error {
	if !exists("/usr/bin/wrk") {
		return fmt.Errorf("/usr/bin/wrk not found: apt-get install wrk")
	}
	pb, pr, n, rd, err := b.reloadPoold(ctx)
	if err != nil {
		return fmt.Errorf("poold: %w", err)
	}
	b.reloadRows(sPoold, pb, pr, n, rd)
	if b.haveGunicorn() {
		gb, gr, gn, grd, err := b.reloadGunicorn(ctx)
		if err != nil {
			b.res.note("reload, gunicorn: %v", err)
		} else {
			b.reloadRows(sGuni, gb, gr, gn, grd)
		}
	}
	b.res.note("reload under load: wrk -t%d -c%d --timeout 2s, %d workers; baseline %s without reload, then %s with back-to-back rolling reloads; errors = connect+read+write+timeout+non-2xx", wrkThreads, wrkConns, reloadWorkers, b.o.wrkDur/2, b.o.wrkDur)
	return nil
}

func (b *bench) rowFor(section, measure, unit string) *row {
	for _, rw := range b.res.Rows {
		if rw.Section == section && rw.Measure == measure {
			return rw
		}
	}
	return b.res.add(section, measure, unit)
}

func (b *bench) reloadRows(subject string, base, load wrkResult, reloads int, reloadMs []float64) {
	b.rowFor("reload", "baseline requests/s", "req/s").one(subject, base.rps)
	b.rowFor("reload", "baseline p99 latency", "ms").one(subject, base.p99)
	b.rowFor("reload", "reloads completed during wrk", "count").one(subject, float64(reloads))
	b.rowFor("reload", "one rolling reload", "ms").set(subject, newStat(reloadMs))
	b.rowFor("reload", "requests during reloads", "count").one(subject, load.requests)
	b.rowFor("reload", "requests/s during reloads", "req/s").one(subject, load.rps)
	e := b.rowFor("reload", "errors during reloads", "count").one(subject, load.errors())
	if subject == sPoold {
		e.target("zero", load.errors() == 0)
		if load.errors() > 0 {
			e.Note = fmt.Sprintf("connect %.0f, read %.0f, write %.0f, timeout %.0f, non-2xx %.0f", load.connect, load.read, load.write, load.timeout, load.non2xx)
			b.res.note("poold reload errors: %s", e.Note)
		}
	} else if load.errors() > 0 {
		b.res.note("%s reload errors: connect %.0f, read %.0f, write %.0f, timeout %.0f, non-2xx %.0f", subject, load.connect, load.read, load.write, load.timeout, load.non2xx)
	}
	b.rowFor("reload", "p99 latency during reloads", "ms").one(subject, load.p99)
}

func (b *bench) reloadPoold(ctx context.Context) (base, load wrkResult, reloads int, reloadMs []float64, err error) {
	b.board.drain()
	in, _, err := b.startPoold(reloadWorkers)
	if err != nil {
		return
	}
	defer in.stop(10 * time.Second)
	if _, err = b.board.waitN(ctx, reloadWorkers, 20*time.Second); err != nil {
		err = fmt.Errorf("%w; log: %s", err, in.logTail())
		return
	}
	if err = b.waitControl(ctx, in); err != nil {
		return
	}
	resc, errc, err := b.startWrk(in.addr, b.o.wrkDur/2)
	if err != nil {
		return
	}
	if base, err = waitWrk(ctx, resc, errc); err != nil {
		return
	}
	resc, errc, err = b.startWrk(in.addr, b.o.wrkDur)
	if err != nil {
		return
	}
	end := time.Now().Add(b.o.wrkDur - 500*time.Millisecond)
	if err = sleepUntil(ctx, time.Now().Add(500*time.Millisecond)); err != nil {
		return
	}
	poolctl := filepath.Join(b.o.bin, "poolctl")
	for time.Now().Before(end) && ctx.Err() == nil {
		d, out, rerr := runTimed(poolctl, "--endpoint", in.ctl, "--waiting", "--timeout", "60s", "reload", "web")
		if rerr != nil {
			b.res.note("poold reload %d: %v: %s", reloads+1, rerr, bytes.TrimSpace(out))
			break
		}
		reloads++
		reloadMs = append(reloadMs, ms(d))
	}
	load, err = waitWrk(ctx, resc, errc)
	if err == nil && strings.Contains(in.logTail(), "[ERROR]") {
		b.res.note("poold log during reload (tail): %s", in.logTail())
	}
	return
}

func (b *bench) reloadGunicorn(ctx context.Context) (base, load wrkResult, reloads int, reloadMs []float64, err error) {
	b.board.drain()
	in, _, err := b.startGunicorn(reloadWorkers)
	if err != nil {
		return
	}
	defer in.stop(10 * time.Second)
	if _, err = b.board.waitN(ctx, reloadWorkers, 30*time.Second); err != nil {
		err = fmt.Errorf("%w; log: %s", err, in.logTail())
		return
	}
	resc, errc, err := b.startWrk(in.addr, b.o.wrkDur/2)
	if err != nil {
		return
	}
	if base, err = waitWrk(ctx, resc, errc); err != nil {
		return
	}
	resc, errc, err = b.startWrk(in.addr, b.o.wrkDur)
	if err != nil {
		return
	}
	end := time.Now().Add(b.o.wrkDur - 500*time.Millisecond)
	if err = sleepUntil(ctx, time.Now().Add(500*time.Millisecond)); err != nil {
		return
	}
	for time.Now().Before(end) && ctx.Err() == nil {
		b.board.drain()
		t0 := time.Now()
		if kerr := syscall.Kill(in.p.pid(), syscall.SIGHUP); kerr != nil {
			err = kerr
			return
		}
		if _, werr := b.board.waitN(ctx, reloadWorkers, 20*time.Second); werr != nil {
			b.res.note("gunicorn reload %d: %v", reloads+1, werr)
			break
		}
		reloads++
		reloadMs = append(reloadMs, ms(time.Since(t0)))
	}
	load, err = waitWrk(ctx, resc, errc)
	return
}
