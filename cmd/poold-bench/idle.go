package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// idleSection measures each manager with n idle workers and nobody
// watching (no stats subscriber, no console, no scrape), for each of
// -idle-sizes; then poold again while a scraper reads its /metrics every
// -scrape-every, to show what a scrape costs. supervisord, and Circus and
// gunicorn up to N=100, are measured alongside.
func (b *bench) idleSection(ctx context.Context) error {
	for _, n := range b.o.idleSizes {
		if err := b.idleManager(ctx, sPoold, b.startPoold, n); err != nil {
			return fmt.Errorf("poold n=%d: %w", n, err)
		}
		if b.haveCircus() && n <= 100 {
			if err := b.idleManager(ctx, sCircus, b.startCircus, n); err != nil {
				b.res.note("idle circus n=%d: %v", n, err)
			}
		}
		if b.haveSupervisord() {
			if err := b.idleManager(ctx, sSup, b.startSupervisord, n); err != nil {
				b.res.note("idle supervisord n=%d: %v", n, err)
			}
		}
		if b.haveGunicorn() && n <= 100 {
			if err := b.idleManager(ctx, sGuni, b.startGunicorn, n); err != nil {
				b.res.note("idle gunicorn n=%d: %v", n, err)
			}
		}
	}
	b.res.note("idle: the manager alone (not its workers), CPU from the kernel's per-thread run time (schedstat), over the window after the workers are alive and 2 s of settling; poold serves metrics on metrics_address but nobody scrapes until the scrape rows")
	return nil
}

func (b *bench) idleManager(ctx context.Context, subject string, start func(int) (*instance, time.Time, error), n int) error {
	b.board.drain()
	in, _, err := start(n)
	if err != nil {
		return err
	}
	defer in.stop(20 * time.Second)
	if _, err := b.waitWorkers(ctx, in, n, spawnTimeout(n)); err != nil {
		return err
	}
	idle, err := b.idle(ctx, in, n)
	if err != nil || subject != sPoold {
		return err
	}
	return b.scraped(ctx, in, n, idle)
}

// scraped measures poold over the window while /metrics is read every
// -scrape-every, and reports the scrape's time, size and CPU cost.
func (b *bench) scraped(ctx context.Context, in *instance, n int, idle idleSample) error {
	url := "http://" + in.metrics + "/metrics"
	var took []float64
	var size int
	scrape := func() error {
		t0 := time.Now()
		resp, err := http.Get(url)
		if err != nil {
			return err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			return fmt.Errorf("scrape %s: %d %v", url, resp.StatusCode, err)
		}
		took = append(took, ms(time.Since(t0)))
		size = len(body)
		return nil
	}
	if err := scrape(); err != nil { // warm: the first scrape reads every pid's identity
		return err
	}
	b.logf("idle: poold with %d workers, scraped every %s, for %s", n, b.o.scrapeEvery, b.o.window)
	took = nil
	s, err := measureWhile(ctx, in.p.pid(), b.o.window, b.o.scrapeEvery, scrape)
	if err != nil {
		return err
	}
	w := b.o.window.String()
	b.res.add("idle", fmt.Sprintf("N=%d CPU over %s, scraped every %s", n, w, b.o.scrapeEvery), "%").one(sPoold, s.cpuPct)
	b.res.add("idle", fmt.Sprintf("N=%d scrape time", n), "ms").set(sPoold, newStat(took))
	b.res.add("idle", fmt.Sprintf("N=%d scrape size", n), "KiB").one(sPoold, float64(size)/1024)
	if len(took) > 0 {
		perScrape := (s.cpuPct - idle.cpuPct) / 100 * b.o.window.Seconds() * 1000 / float64(len(took))
		b.res.add("idle", fmt.Sprintf("N=%d poold CPU per scrape", n), "ms").one(sPoold, max(perScrape, 0))
	}
	b.mergeIdle()
	return nil
}

// cpuSeconds is the CPU time of every thread of pid so far, from the
// kernel's run-time accounting (/proc/PID/task/*/schedstat, nanoseconds),
// which sees the short wake-ups of an idle process that the 10 ms ticks
// of /proc/PID/stat round away. ok is false when pid is gone.
func cpuSeconds(pid int) (float64, bool) {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(tasks) == 0 {
		return 0, false
	}
	var ns float64
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // a thread that ended
		}
		if v, err := strconv.ParseFloat(strings.Fields(string(b))[0], 64); err == nil {
			ns += v
		}
	}
	return ns / 1e9, true
}
