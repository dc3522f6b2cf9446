package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// What a Prometheus scrape of /metrics costs at N workers. Each scrape
// reads every worker's /proc/PID/stat and, at most every
// procinfo.FullScanEvery (10 s), every process of the host to learn the
// workers' process trees (poold_worker_tree_*): a scraper every 15 s
// (Prometheus's default) makes each scrape a full scan. Measured: the
// first scrape of a fresh poold, then poold over -window while a scraper
// reads /metrics every -scrape-every, with each of those scrapes' wall
// time and poold's CPU. Targets, chosen from the issue's: a scrape under
// 500 ms (what it sets for `stats` of every worker, the same /proc reads
// and more), and poold's CPU over the window under 1 % (its idle target:
// a Prometheus scraping every 15 s is the normal case, not "watching").

// scrapeCost is one scrape: its wall time and poold's CPU meanwhile
// (poold is otherwise idle), both in ms, and the body's size.
type scrapeCost struct {
	wall, cpu float64
	size      int
}

// scrapeOnce reads url once, timing it and poold's (pid's) CPU.
func scrapeOnce(url string, pid int) (scrapeCost, error) {
	cpu0, _ := cpuSeconds(pid)
	t0 := time.Now()
	resp, err := http.Get(url)
	if err != nil {
		return scrapeCost{}, fmt.Errorf("scrape %s: %w", url, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return scrapeCost{}, fmt.Errorf("scrape %s: read body: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return scrapeCost{}, fmt.Errorf("scrape %s: status %d", url, resp.StatusCode)
	}
	wall := ms(time.Since(t0))
	cpu1, _ := cpuSeconds(pid)
	return scrapeCost{wall: wall, cpu: (cpu1 - cpu0) * 1000, size: len(body)}, nil
}

// tenkFirstScrape reads /metrics of a poold that has not read /proc yet
// (no stats, no scrape since its start).
func (b *bench) tenkFirstScrape(in *instance, n int, row func(string, string) *row) error {
	c, err := scrapeOnce("http://"+in.metrics+"/metrics", in.p.pid())
	if err != nil {
		return fmt.Errorf("%w; log: %s", err, in.logTail())
	}
	row("/metrics scrape (first)", "ms").one(sPoold, c.wall)
	row("/metrics scrape (first), poold CPU", "ms").one(sPoold, c.cpu)
	row("/metrics size", "KiB").one(sPoold, float64(c.size)/1024)
	return nil
}

// tenkScraped measures poold over the window while /metrics is read
// every -scrape-every; idle is poold over the same window unscraped.
func (b *bench) tenkScraped(ctx context.Context, in *instance, n int, idle idleSample, row func(string, string) *row) error {
	url := "http://" + in.metrics + "/metrics"
	pid := in.p.pid()
	var wall, cpu []float64
	scrape := func() error {
		c, err := scrapeOnce(url, pid)
		if err != nil {
			return fmt.Errorf("%w; log: %s", err, in.logTail())
		}
		wall, cpu = append(wall, c.wall), append(cpu, c.cpu)
		return nil
	}
	b.logf("tenk: poold with %d workers, scraped every %s, for %s", n, b.o.scrapeEvery, b.o.window)
	s, err := measureWhile(ctx, pid, b.o.window, b.o.scrapeEvery, scrape)
	if err != nil {
		return err
	}
	rs := row(fmt.Sprintf("/metrics scrape every %s", b.o.scrapeEvery), "ms").set(sPoold, newStat(wall))
	rs.target("< 500 ms", newStat(wall).Median < 500)
	row(fmt.Sprintf("/metrics scrape every %s, poold CPU", b.o.scrapeEvery), "ms").set(sPoold, newStat(cpu))
	w := b.o.window.String()
	rc := row(fmt.Sprintf("CPU over %s, scraped every %s", w, b.o.scrapeEvery), "%").one(sPoold, s.cpuPct)
	rc.target("< 1%", s.cpuPct < 1)
	if len(wall) > 0 {
		// The window's CPU above the unscraped window's, per scrape.
		per := (s.cpuPct - idle.cpuPct) / 100 * b.o.window.Seconds() * 1000 / float64(len(wall))
		row("poold CPU per scrape, from the windows", "ms").one(sPoold, max(per, 0))
	}
	return nil
}
