package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/poold/poold/watcher"
)

var (
	dMinWorkers = desc("poold_pool_min_workers",
		"The least workers the pool runs: min_workers of an elastic pool, numprocesses of a fixed one.", "pool")
	dMaxWorkers = desc("poold_pool_max_workers",
		"The most workers the pool runs: max_workers of an elastic pool, numprocesses of a fixed one.", "pool")
	dScales = desc("poold_pool_scale_events_total",
		"Changes of an elastic pool's size (scale events), by direction: up or down.", "pool", "direction")
	dLastScale = desc("poold_pool_last_scale_timestamp_seconds",
		"When an elastic pool last changed its size, unix seconds; 0 before the first change.", "pool")
)

func describeSize(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{dMinWorkers, dMaxWorkers, dScales, dLastScale} {
		ch <- d
	}
}

// collectSize sends a pool's bounds, and for an elastic pool its scale
// counts and the time of its last change.
func collectSize(ch chan<- prometheus.Metric, pool string, sz watcher.Size) {
	ch <- gauge(dMinWorkers, float64(sz.Min), pool)
	ch <- gauge(dMaxWorkers, float64(sz.Max), pool)
	if !sz.Elastic {
		return
	}
	ch <- prometheus.MustNewConstMetric(dScales, prometheus.CounterValue, float64(sz.Ups), pool, "up")
	ch <- prometheus.MustNewConstMetric(dScales, prometheus.CounterValue, float64(sz.Downs), pool, "down")
	last := 0.0
	if !sz.At.IsZero() {
		last = unixSeconds(sz.At)
	}
	ch <- gauge(dLastScale, last, pool)
}
