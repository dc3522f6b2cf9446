package metrics

import (
	"cmp"
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/watcher"
)

// Every state and status is exported, at 0 when it does not apply, so a
// query sees each series from the start (node_exporter's systemd unit
// state does the same).
var (
	workerStates = []string{watcher.ProcStarting, watcher.ProcReady, watcher.ProcStopping}
	slotStates   = []string{string(watcher.HoldBackoff), string(watcher.HoldPaused), string(watcher.HoldFailed), string(watcher.HoldExited)}
	poolStatuses = []watcher.Status{watcher.Stopped, watcher.Starting, watcher.Active, watcher.Stopping, watcher.Flapping, watcher.Failed}
)

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

// workerDesc is the Desc of the per-worker family called name.
func workerDesc(name string) *prometheus.Desc {
	for _, f := range workerFamilies {
		if f.name == name {
			return desc(f.name, f.help, "pool", "wid")
		}
	}
	panic("metrics: no worker family " + name)
}

var (
	dWorkers = desc("poold_pool_workers",
		"Worker processes of the pool by state: starting (not yet ready), ready, stopping.", "pool", "state")
	dDesired = desc("poold_pool_desired_workers",
		"The pool's target number of workers: numprocesses, or an elastic pool's size in force.", "pool")
	dEmpty = desc("poold_pool_empty_slots",
		"Slots of the target without a worker, by why: backoff (starts again after a delay), paused (flapping), failed (gave up), exited (respawn is off).", "pool", "state")
	dStatus = desc("poold_pool_status",
		"1 for the pool's current status as poolctl status shows it (stopped, starting, active, stopping, flapping, failed), 0 for the others.", "pool", "status")
	dCgMem     = workerDesc("poold_worker_cgroup_memory_bytes")
	dCgPeak    = workerDesc("poold_worker_cgroup_memory_peak_bytes")
	dStart     = workerDesc("poold_worker_start_time_seconds")
	dRSS       = workerDesc("poold_worker_resident_memory_bytes")
	dCPU       = workerDesc("poold_worker_cpu_seconds_total")
	dTreeRSS   = workerDesc("poold_worker_tree_resident_memory_bytes")
	dTreeCPU   = workerDesc("poold_worker_tree_cpu_seconds_total")
	dTreeProcs = workerDesc("poold_worker_tree_processes")
	dMemMax    = desc("poold_pool_memory_max_bytes",
		"The pool's memory_max, bytes: the limit of each worker's own cgroup, held against poold_worker_cgroup_memory_bytes. Absent for a pool without memory_max.", "pool")
	dFDRatio = desc("poold_pool_fd_usage_ratio",
		"The largest share of its soft RLIMIT_NOFILE that any one process of the pool's workers (and their children) has open, 0 to 1, read at each scrape; at 1 its open() and accept() fail with \"too many open files\" while it may still count as ready. poolctl stats NAME --extended shows every process's count.", "pool")
	dQueue = desc("poold_listener_queue_length",
		"Connections waiting in the listening socket's accept queue: workers are not accepting fast enough when it grows.", "listener")
	dQueueLimit = desc("poold_listener_queue_limit",
		"The most connections the accept queue holds (the effective backlog); beyond it the kernel drops or refuses new ones.", "listener")
	dDropped = desc("poold_events_dropped_total",
		"Events dropped for a consumer that could not keep up, by stream: events (the event endpoint), stats (the stats endpoint), console (the web console), metrics (this exporter). For the endpoints, this includes what poold still held for a subscriber when it was evicted.", "stream")
	dEvicted = desc("poold_subscribers_evicted_total",
		"Subscribers disconnected because they took no data for the stall timeout, by stream: events (the event endpoint), stats (the stats endpoint). What was still buffered for them is in poold_events_dropped_total; what sat in kernel socket buffers is not counted.", "stream")
	dLogDrops = desc("poold_worker_log_lines_dropped_total",
		"Lines of the pool's workers poold dropped, by cause: file (a log file could not be written: a full disk, permissions), queue (poold's log queue was full with the pool's lines on the stderr sink), stderr (poold's stderr failed or is gone), other (handed over by an older poold without a cause). poolctl status logs.dropped_* and poold's log say more.", "pool", "cause")
	dOwnLogDrops = desc("poold_log_lines_dropped_total",
		"Lines poold's own log dropped (its queue to stderr was full, a write failed, stderr is gone): poold's lines and workers' lines on the stderr sink, which poold_worker_log_lines_dropped_total also counts by pool. dstats log_dropped.")
	dReloadOK = desc("poold_config_last_reload_successful",
		"1 if the last config reload asked for (SIGHUP, reloadconfig) was applied in full, 0 if it was refused, a watcher's change was rolled back or an added watcher did not start; 1 at start; an upgrade in place keeps it.")
	dReloadAt = desc("poold_config_last_reload_success_timestamp_seconds",
		"When the config was last applied in full (poold's start, or the last successful reload), unix seconds.")
	dUpgrade = desc("poold_upgrade_state",
		"1 for the outcome of the last in-place upgrade (poolctl upgrade), 0 for the others: none (none asked), upgrading (in flight), upgraded (the new build took over), rolled_back (it failed after the exec; the old build runs again), refused (nothing changed).", "state")
	dUpgradeAt = desc("poold_last_upgrade_timestamp_seconds",
		"When the last in-place upgrade was asked for, unix seconds; 0 if none was.")
)

// upgradeStates are the states of poold_upgrade_state (upgrade_status's).
var upgradeStates = []string{"none", "upgrading", "upgraded", "rolled_back", "refused"}

// snapshotCollector reads one Snapshot per scrape, or uses the one in
// given, or reports failed, the error of the scrape's read that failed
// (it does not read again); with noWorkers it leaves the per-worker
// series out (the text scrape writes them itself, worker.go).
type snapshotCollector struct {
	e         *Exporter
	given     *scrapeInput
	failed    error
	noWorkers bool
}

// scrapeInput is what one scrape shows of the pools: the usage read of
// its workers, or what is missing of it.
type scrapeInput struct {
	snap    arbiter.Snapshot
	usage   map[int]arbiter.Usage
	missing missingUsage
}

func (c *snapshotCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{dWorkers, dDesired, dEmpty, dStatus, dMemMax, dCgMem, dCgPeak, dStart, dRSS, dCPU, dTreeRSS, dTreeCPU, dTreeProcs, dFDRatio, dQueue, dQueueLimit, dDropped, dEvicted, dLogDrops, dOwnLogDrops, dReloadOK, dReloadAt, dUpgrade, dUpgradeAt, dMissing} {
		ch <- d
	}
	describeSize(ch)
}

func (c *snapshotCollector) Collect(ch chan<- prometheus.Metric) {
	c.collectDropped(ch)
	in, err := c.given, c.failed
	if in == nil && err == nil {
		in, err = c.e.read(context.Background(), c.e.boundsOf(nil, time.Now()))
	}
	if err != nil {
		// The other collectors still answer; the scrape reports the error.
		ch <- prometheus.NewInvalidMetric(dWorkers, err)
		return
	}
	snap := in.snap
	ch <- gauge(dMissing, float64(in.missing.workers))
	for _, w := range snap.Watchers {
		collectPool(ch, w, in.usage, !c.noWorkers)
	}
	for _, s := range snap.Sockets {
		ch <- gauge(dQueue, float64(s.Queued), s.Name)
		ch <- gauge(dQueueLimit, float64(s.QueueLimit), s.Name)
	}
	ch <- prometheus.MustNewConstMetric(dOwnLogDrops, prometheus.CounterValue, float64(snap.LogDropped))
	ch <- gauge(dReloadOK, boolFloat(snap.Config.LastReloadOK))
	ch <- gauge(dReloadAt, unixSeconds(snap.Config.LastSuccess))
	for _, st := range upgradeStates {
		ch <- gauge(dUpgrade, boolFloat(snap.Upgrade.State == st), st)
	}
	began := 0.0
	if !snap.Upgrade.Began.IsZero() {
		began = unixSeconds(snap.Upgrade.Began)
	}
	ch <- gauge(dUpgradeAt, began)
}

func (c *snapshotCollector) collectDropped(ch chan<- prometheus.Metric) {
	for stream, f := range c.e.opts.Dropped {
		ch <- prometheus.MustNewConstMetric(dDropped, prometheus.CounterValue, float64(f()), stream)
	}
	ch <- prometheus.MustNewConstMetric(dDropped, prometheus.CounterValue, float64(c.e.ownDropped()), "metrics")
	for stream, f := range c.e.opts.Evicted {
		ch <- prometheus.MustNewConstMetric(dEvicted, prometheus.CounterValue, float64(f()), stream)
	}
}

// collectPool sends the metrics of one pool and, if workers, its
// workers'.
func collectPool(ch chan<- prometheus.Metric, w arbiter.WatcherSnapshot, usage map[int]arbiter.Usage, workers bool) {
	pool := w.Name
	ch <- gauge(dDesired, float64(w.Target), pool)
	collectSize(ch, pool, w.Size)
	for _, st := range poolStatuses {
		ch <- gauge(dStatus, boolFloat(w.Shown == st), pool, string(st))
	}
	byState := map[string]int{}
	for _, p := range w.Processes {
		byState[p.State]++
	}
	if r, ok := fdRatio(w.Processes, usage); ok {
		ch <- gauge(dFDRatio, r, pool)
	}
	if w.Spec.MemoryMax > 0 {
		ch <- gauge(dMemMax, float64(w.Spec.MemoryMax), pool)
	}
	if workers {
		collectWorkers(ch, pool, w.Processes, usage)
	}
	for _, st := range workerStates {
		ch <- gauge(dWorkers, float64(byState[st]), pool, st)
	}
	held := map[string]int{}
	for _, s := range w.Slots {
		if s.Pid == 0 {
			held[s.State]++
		}
	}
	for _, st := range slotStates {
		ch <- gauge(dEmpty, float64(held[st]), pool, st)
	}
	d := w.LogDrops
	for _, c := range []struct {
		cause string
		n     uint64
	}{{"file", d.File}, {"queue", d.Queue}, {"stderr", d.Stderr}, {"other", d.Other}} {
		ch <- prometheus.MustNewConstMetric(dLogDrops, prometheus.CounterValue, float64(c.n), pool, c.cause)
	}
}

// fdRatio is the largest share of its fd limit any process of procs'
// trees has open: one series per pool, not one per pid. False when no
// worker's descriptors could be read (none runs, or /proc says nothing).
func fdRatio(procs []watcher.Process, usage map[int]arbiter.Usage) (float64, bool) {
	r, found := 0.0, false
	for _, p := range procs {
		if u, ok := usage[p.Pid]; ok && u.HasFDs {
			r, found = max(r, u.FDs.Ratio()), true
		}
	}
	return r, found
}

// collectWorkers sends the per-worker series of one pool.
func collectWorkers(ch chan<- prometheus.Metric, pool string, procs []watcher.Process, usage map[int]arbiter.Usage) {
	for _, p := range textOrder(procs) {
		wid := p.wid
		ch <- gauge(dStart, unixSeconds(p.Started), pool, wid)
		if u, ok := usage[p.Pid]; ok {
			if u.HasCgroup {
				ch <- gauge(dCgMem, float64(u.Cgroup.Current), pool, wid)
				if u.Cgroup.HasPeak {
					ch <- gauge(dCgPeak, float64(u.Cgroup.Peak), pool, wid)
				}
			}
			ch <- gauge(dRSS, float64(u.RSS), pool, wid)
			ch <- prometheus.MustNewConstMetric(dCPU, prometheus.CounterValue, u.CPUSeconds, pool, wid)
			ch <- gauge(dTreeRSS, float64(u.TreeRSS), pool, wid)
			ch <- prometheus.MustNewConstMetric(dTreeCPU, prometheus.CounterValue, u.TreeCPUSeconds, pool, wid)
			ch <- gauge(dTreeProcs, float64(u.TreeProcesses), pool, wid)
		}
	}
}

// textOrder is procs in the order the registry sorts their series, by
// wid as text ("1", "10", "100", "2"): each scrape sorts every family's
// series by label values, and input already in order makes that sort
// linear. With 10,000 workers (60,000 worker series) the sort of
// series in wid order was a quarter of a scrape's CPU
// (BenchmarkScrapeEncode).
func textOrder(procs []watcher.Process) []workerRow {
	out := make([]workerRow, len(procs))
	for i, p := range procs {
		out[i] = workerRow{p, strconv.Itoa(p.Wid)}
	}
	slices.SortFunc(out, func(a, b workerRow) int { return cmp.Compare(a.wid, b.wid) })
	return out
}

// workerRow is a worker with its wid label.
type workerRow struct {
	watcher.Process
	wid string
}

func gauge(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func unixSeconds(t interface{ UnixNano() int64 }) float64 {
	return float64(t.UnixNano()) / 1e9
}
