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

// The setting: 50 workers, 50 kept-alive wrk connections.
const (
	reloadWorkers = 50
	wrkThreads    = 2
	wrkConns      = 50
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
// wrk stops early, and still reports, on SIGINT (see stopWrk).
func (b *bench) startWrk(addr string, d time.Duration) (<-chan wrkResult, <-chan error, *proc, error) {
	var out bytes.Buffer
	cmd := exec.Command("/usr/bin/wrk", "-t"+strconv.Itoa(wrkThreads), "-c"+strconv.Itoa(wrkConns),
		"-d"+strconv.Itoa(int(d.Seconds()))+"s", "--timeout", "2s", "--latency", "http://"+addr+"/")
	cmd.Stdout, cmd.Stderr = &out, &out
	p, err := b.procs.start("wrk", cmd)
	if err != nil {
		return nil, nil, nil, err
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
	return resc, errc, p, nil
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

// reloader is one manager's rolling reload: it returns once the manager
// says the reload is done (poold, Circus) or the new workers are alive
// (gunicorn).
type reloader func(ctx context.Context, in *instance) error

// reloadSection: wrk -c50 against the shared socket of 50 workers, first
// alone (baseline), then through -reloads rolling reloads, each in its
// own wrk run over the same fixed window for every manager: from a
// second before the reload command to -reload-window after it (long
// enough for the slowest peer's reload), so that requests/s and p99 are
// comparable; a reload that outlasts the window gets a note. Every manager runs the same plain worker (Shutdown on
// SIGTERM, nothing else) except gunicorn, which can only run its own
// Python worker. supervisord has no rolling reload.
func (b *bench) reloadSection(ctx context.Context) error {
	if !exists("/usr/bin/wrk") {
		return fmt.Errorf("/usr/bin/wrk not found: apt-get install wrk")
	}
	poolctl := filepath.Join(b.o.bin, "poolctl")
	pooldReload := func(ctx context.Context, in *instance) error {
		_, out, err := runTimed(poolctl, "--endpoint", in.ctl, "--waiting", "--timeout", "120s", "reload", "web")
		if err != nil {
			return fmt.Errorf("poolctl reload web: %w: %s", err, bytes.TrimSpace(out))
		}
		return nil
	}
	if b.o.reloadSurge > 0 {
		b.extra += fmt.Sprintf("max_surge = %d\n", b.o.reloadSurge)
	}
	if b.o.reloadDelay > 0 {
		b.extra += fmt.Sprintf("readiness = \"delay\"\nready_delay = %q\n", b.o.reloadDelay.String())
	}
	if b.extra != "" {
		b.res.note("reload: poold's watcher with %s", strings.ReplaceAll(strings.TrimSpace(b.extra), "\n", ", "))
	}
	err := b.reloadManager(ctx, sPoold, b.startPoold, pooldReload)
	b.extra = ""
	if err != nil {
		return fmt.Errorf("poold: %w", err)
	}
	if b.haveCircus() {
		circusReload := func(ctx context.Context, in *instance) error {
			_, _, err := b.circusctl(in, "reload", "web", "--waiting")
			return err
		}
		if err := b.reloadManager(ctx, sCircus, b.startCircus, circusReload); err != nil {
			b.res.note("reload, circus: %v", err)
		}
	}
	if b.haveGunicorn() {
		guniReload := func(ctx context.Context, in *instance) error {
			return syscall.Kill(in.p.pid(), syscall.SIGHUP)
		}
		if err := b.reloadManager(ctx, sGuni, b.startGunicorn, guniReload); err != nil {
			b.res.note("reload, gunicorn: %v", err)
		}
	}
	b.reloadVerdict()
	b.res.note("reload under load: wrk -t%d -c%d --timeout 2s against %d workers; baseline %s without reload, then %d rolling reloads, each in its own wrk run over the same window for every manager, from 1 s before the reload command to %s after it (-reload-window); errors = connect+read+write+timeout+non-2xx; the plain worker only calls http.Server.Shutdown on SIGTERM, which closes kept-alive connections it sees idle: wrk has always sent its next request by then and counts the close as a read error, whatever the manager (README, Benchmarks); gunicorn runs its own sync Python worker, which answers every request with \"Connection: close\" (no keep-alive), so its figure is not on the same worker; supervisord has no rolling reload",
		wrkThreads, wrkConns, reloadWorkers, b.o.wrkDur/2, b.o.reloads, b.o.reloadWindow)
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

// reloadManager measures one manager: baseline, then o.reloads reloads.
func (b *bench) reloadManager(ctx context.Context, subject string, start func(int) (*instance, time.Time, error), reload reloader) error {
	b.board.drain()
	in, _, err := start(reloadWorkers)
	if err != nil {
		return err
	}
	defer in.stop(20 * time.Second)
	cur, err := b.board.waitN(ctx, reloadWorkers, spawnTimeout(reloadWorkers))
	if err != nil {
		return fmt.Errorf("%w; log: %s", err, in.logTail())
	}
	switch subject {
	case sPoold:
		err = b.waitControl(ctx, in)
	case sCircus:
		err = b.waitCircusControl(ctx, in)
	}
	if err != nil {
		return err
	}
	resc, errc, _, err := b.startWrk(in.addr, b.o.wrkDur/2)
	if err != nil {
		return err
	}
	base, err := waitWrk(ctx, resc, errc)
	if err != nil {
		return err
	}
	b.rowFor("reload", "baseline requests/s", "req/s").one(subject, base.rps)
	b.rowFor("reload", "baseline p99 latency", "ms").one(subject, base.p99)
	var took, errs, rps, p99 []float64
	var kinds wrkResult
	for r := 0; r < b.o.reloads && ctx.Err() == nil; r++ {
		load, d, next, err := b.reloadOnce(ctx, in, cur, reload)
		if err != nil {
			return fmt.Errorf("reload %d: %w", r+1, err)
		}
		cur = next
		took = append(took, ms(d))
		errs = append(errs, load.errors())
		rps = append(rps, load.rps)
		p99 = append(p99, load.p99)
		kinds.connect += load.connect
		kinds.read += load.read
		kinds.write += load.write
		kinds.timeout += load.timeout
		kinds.non2xx += load.non2xx
	}
	b.rowFor("reload", fmt.Sprintf("one rolling reload of %d (until the last old worker is gone)", reloadWorkers), "ms").set(subject, newStat(took))
	b.rowFor("reload", fmt.Sprintf("errors in one reload (wrk -c%d)", wrkConns), "count").set(subject, newStat(errs))
	if kinds.errors() > 0 {
		b.res.note("%s reload errors over %d reloads: connect %.0f, read %.0f, write %.0f, timeout %.0f, non-2xx %.0f", subject, len(errs), kinds.connect, kinds.read, kinds.write, kinds.timeout, kinds.non2xx)
	}
	win := fmt.Sprintf("from 1 s before a reload to %s after", b.o.reloadWindow)
	b.rowFor("reload", "requests/s "+win, "req/s").set(subject, newStat(rps))
	b.rowFor("reload", "p99 latency "+win, "ms").set(subject, newStat(p99))
	return nil
}

// reloadOnce runs wrk around one reload, from 1 s before the command to
// -reload-window after it. It returns wrk's figures, the
// time from the reload command to the last old worker gone, and the new
// workers.
func (b *bench) reloadOnce(ctx context.Context, in *instance, old []alive, reload reloader) (wrkResult, time.Duration, []alive, error) {
	resc, errc, wp, err := b.startWrk(in.addr, 5*time.Minute)
	if err != nil {
		return wrkResult{}, 0, nil, err
	}
	stopWrk := func() (wrkResult, error) {
		_ = wp.cmd.Process.Signal(syscall.SIGINT)
		return waitWrk(ctx, resc, errc)
	}
	if err := sleepUntil(ctx, time.Now().Add(time.Second)); err != nil {
		stopWrk()
		return wrkResult{}, 0, nil, err
	}
	b.board.drain()
	t0 := time.Now()
	if err := reload(ctx, in); err != nil {
		stopWrk()
		return wrkResult{}, 0, nil, err
	}
	if err := waitGone(ctx, old, 60*time.Second); err != nil {
		stopWrk()
		return wrkResult{}, 0, nil, fmt.Errorf("%w; log: %s", err, in.logTail())
	}
	d := time.Since(t0)
	next, err := b.board.waitN(ctx, reloadWorkers, 30*time.Second)
	if err != nil {
		stopWrk()
		return wrkResult{}, 0, nil, fmt.Errorf("new workers: %w", err)
	}
	if end := t0.Add(b.o.reloadWindow); time.Now().After(end) {
		b.res.note("%s: a reload (%s until the last old worker was gone and the new ones alive) outlasted the fixed wrk window of 1 s + %s: its requests/s and p99 cover a longer window; raise -reload-window", in.kind, time.Since(t0).Round(time.Millisecond), b.o.reloadWindow)
	} else if err := sleepUntil(ctx, end); err != nil {
		stopWrk()
		return wrkResult{}, 0, nil, err
	}
	load, err := stopWrk()
	return load, d, next, err
}

// waitGone polls until no process of as exists any more (reaped by its
// manager).
func waitGone(ctx context.Context, as []alive, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		left := 0
		for _, a := range as {
			if syscall.Kill(a.pid, 0) == nil {
				left++
			}
		}
		if left == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d old workers still running after %s", left, len(as), d)
		}
		if err := sleepUntil(ctx, time.Now().Add(5*time.Millisecond)); err != nil {
			return err
		}
	}
}

// reloadVerdict: poold's errors per reload against the best peer that
// runs the same worker (Circus), and the errors per kept-alive
// connection.
func (b *bench) reloadVerdict() {
	e := b.rowFor("reload", fmt.Sprintf("errors in one reload (wrk -c%d)", wrkConns), "count")
	p, c := e.Values[sPoold], e.Values[sCircus]
	if p == nil {
		return
	}
	per := b.rowFor("reload", "errors per kept-alive connection in one reload", "count")
	for s, v := range e.Values {
		per.one(s, v.Median/wrkConns)
	}
	if c != nil {
		e.target("<= circus on the same worker", p.Median <= c.Median)
	}
}
