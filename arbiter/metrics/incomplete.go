package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/poold/poold/arbiter"
)

// A scrape whose read of the workers' /proc usage did not end within its
// bound (bounds.go), or did not run because another scrape's still ran
// (flight.go), answers without the series that read gives: each
// worker's resident memory, CPU, tree and cgroup memory, and each pool's
// poold_pool_fd_usage_ratio. Nothing stands in for them (no zeros, no
// older values): Prometheus sees them absent for that scrape. The pools'
// counts, states and restarts, which come from the loop's Snapshot, are
// there. poold says so three ways: a WARN naming how many workers and
// why (once per read, however many scrapes shared it), poold_scrape_usage_incomplete_total by reason, and in the answer
// itself poold_scrape_usage_missing_workers.

// The reasons of poold_scrape_usage_incomplete_total.
const (
	reasonTimeout = "timeout" // the read did not end within the scrape's bound
	reasonBusy    = "busy"    // an earlier scrape's read still ran
)

var dMissing = desc("poold_scrape_usage_missing_workers",
	"Workers whose /proc usage this scrape could not read in time, so their poold_worker_* usage series and their pools' poold_pool_fd_usage_ratio are absent from it; 0 when every worker's was read.")

// missingUsage says which usage a scrape answers without, and why.
type missingUsage struct {
	reason  string // "" when nothing is missing
	workers int
	// bound and scrape: the read's bound and the scrape's (timeout);
	// busyFor: how long the other read had run (busy).
	bound, scrape, busyFor time.Duration
}

// newIncomplete is the counter of scrapes answered without some
// workers' usage, with every reason at 0.
func newIncomplete() *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "poold_scrape_usage_incomplete_total",
		Help: "Scrapes of /metrics answered without the /proc usage of their workers, by reason: timeout (the read did not end within the scrape's bound, from X-Prometheus-Scrape-Timeout-Seconds or poold's own 10 s), busy (an earlier scrape's read still ran; /proc is read for one at a time). Their worker usage series were left out, not zeroed; poold's log says how many workers.",
	}, []string{"reason"})
	c.WithLabelValues(reasonTimeout)
	c.WithLabelValues(reasonBusy)
	return c
}

// incomplete counts a scrape answered without m's usage, and logs it if
// warn: the first such scrape of its read (scrapes that share a read cut
// short would each say the same).
func (e *Exporter) incomplete(m missingUsage, warn bool) {
	e.usageIncomplete.WithLabelValues(m.reason).Inc()
	if !warn {
		return
	}
	const left = "; their usage series (poold_worker_* memory and CPU, poold_pool_fd_usage_ratio) are left out of this answer, the pools' counts and states are in it"
	switch m.reason {
	case reasonTimeout:
		e.log.Warn("scrape answered without the /proc usage of its workers: reading it did not end within its bound"+left+
			" (a starved machine, or very many workers: see the load, or raise the scrape_timeout)",
			"workers", m.workers, "bound", m.bound.Round(time.Millisecond), "scrape_timeout", m.scrape.Round(time.Millisecond))
	default:
		e.log.Warn("scrape answered without the /proc usage of its workers: an earlier scrape's read of /proc still ran, and poold reads it for one scrape at a time"+left+
			" (scrapes that come more often than a read takes: see the load, or scrape less often)",
			"workers", m.workers, "other_read_for", m.busyFor.Round(time.Millisecond))
	}
}

// workersIn counts the workers of snap.
func workersIn(snap arbiter.Snapshot) int {
	n := 0
	for _, w := range snap.Watchers {
		n += len(w.Processes)
	}
	return n
}
