// Package metrics exposes poold in the Prometheus text format, with
// prometheus/client_golang (the only package of poold that imports it).
//
// Every pool metric is read from one arbiter.Snapshot per scrape, so a
// scrape sees one consistent moment and poold does no work between
// scrapes: the snapshot collector asks the arbiter's loop for a Snapshot,
// samples /proc for the workers outside the loop and turns both into
// constant metrics. Counters that must outlive the watchers a config
// reload rebuilds (restarts by reason) and the reload-duration histogram
// live here, fed by the event bus.
//
// Concurrency: New does no I/O and starts nothing. Run owns one goroutine
// (its caller's): it reads a bounded bus subscription and owns the
// restart tracker's state; a second, which Run waits for, asks once for
// a Snapshot to learn the pools that exist; the loop runs the short OnSettled callbacks
// that observe reload durations. The counter and histogram vectors are
// client_golang's own synchronised leaves, read by scrapes, which run on
// the HTTP server's goroutines; Collect keeps nothing between calls.
package metrics

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/events"
)

// Source is what the metrics read: *arbiter.Arbiter.
type Source interface {
	Snapshot(ctx context.Context) (arbiter.Snapshot, error)
	// ReadWorkerUsage reads /proc for the workers of the Snapshot; once
	// ctx is done it may stop and return nil (arbiter.ReadWorkerUsage).
	ReadWorkerUsage(context.Context, arbiter.Snapshot) map[int]arbiter.Usage
	OnSettled(ctx context.Context, name string, fn func(at time.Time, already bool)) bool
}

// Options configure an Exporter.
type Options struct {
	Source Source
	// Events is the lifecycle event bus: restarts and reload durations
	// are counted from it. Nil: those two stay empty.
	Events *events.Bus
	// Dropped maps a stream name ("events", "stats", "console") to its
	// count of events dropped for slow consumers, read at each scrape
	// (poold_events_dropped_total). The exporter adds its own ("metrics").
	Dropped map[string]func() uint64
	// Evicted maps a stream name ("events", "stats") to its count of
	// subscribers disconnected because they stopped reading
	// (poold_subscribers_evicted_total).
	Evicted map[string]func() uint64
	// ScrapeTimeout bounds the wait for the loop's Snapshot; a scrape is
	// answered 503 after twice it (bounds.go). Default 5s.
	ScrapeTimeout time.Duration
	Log           hclog.Logger
}

// Exporter is poold's metrics: a registry, the collectors and the event
// consumer that feeds the counters.
type Exporter struct {
	opts     Options
	log      hclog.Logger
	reg      *prometheus.Registry
	base     *prometheus.Registry // reg less the snapshot collector
	restarts *prometheus.CounterVec
	oomKills *prometheus.CounterVec
	// cgroupOOM counts the OOM kills of poold's own cgroup that no worker
	// claimed (arbiter.unhealthy events with oom_kills).
	cgroupOOM prometheus.Counter
	// abandoned: rolling reloads abandoned, by pool.
	abandoned *prometheus.CounterVec
	// stopKills: workers SIGKILLed at graceful_timeout, by pool.
	stopKills *prometheus.CounterVec
	reloads   *prometheus.HistogramVec
	ready     chan struct{}
	// sub is Run's subscription, set once it has subscribed; scrapes
	// read its drop count.
	sub atomic.Pointer[events.Subscription]
	// fmu guards cur, the read of the pools that scrapes arriving now
	// share (flight.go), reading, the flight whose usage read runs, and
	// stopping, set once Run returns; shared counts the scrapes that
	// shared a read. reads counts the flights' goroutines, which Run
	// waits for.
	fmu      sync.Mutex
	cur      *flight
	reading  *flight
	stopping bool
	shared   atomic.Uint64
	reads    sync.WaitGroup
	// halt is done once Run returns (stopReads): it cuts the reads.
	halt      context.Context
	stopReads context.CancelFunc
	// usageIncomplete: scrapes answered without some workers' usage
	// (incomplete.go).
	usageIncomplete *prometheus.CounterVec
	// slots holds one token per scrape being answered (at most inFlight).
	slots chan struct{}
}

// inFlight is how many scrapes are answered at once.
const inFlight = 4

// ReloadBuckets are the bucket bounds of poold_reload_duration_seconds: a
// rolling reload takes from well under a second (workers ready at spawn)
// to minutes (readiness probes, a max_surge of 1, many workers).
var ReloadBuckets = []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}

// New builds the exporter and registers every collector. It does no I/O.
func New(opts Options) *Exporter {
	if opts.Log == nil {
		opts.Log = hclog.NewNullLogger()
	}
	if opts.ScrapeTimeout <= 0 {
		opts.ScrapeTimeout = 5 * time.Second
	}
	halt, stopReads := context.WithCancel(context.Background())
	e := &Exporter{
		halt:            halt,
		stopReads:       stopReads,
		opts:            opts,
		log:             opts.Log,
		reg:             prometheus.NewRegistry(),
		ready:           make(chan struct{}),
		slots:           make(chan struct{}, inFlight),
		usageIncomplete: newIncomplete(),
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "poold_worker_restarts_total",
			Help: "Workers poold started again without being asked, by reason: exit (the worker ended on its own), oom (the kernel's OOM killer killed it), spawn_error (the slot's previous start failed), unhealthy (failed readiness or health check), limit (over max_rss or max_cpu), max_age (recycled for its age).",
		}, []string{"pool", "reason"}),
		oomKills: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "poold_worker_oom_kills_total",
			Help: "Processes the kernel's OOM killer killed inside the cgroup of a worker that ran on: a child of a master (a gunicorn or uvicorn worker) under the pool's memory_max. An OOM kill of the worker itself is a restart with reason oom (poold_worker_restarts_total).",
		}, []string{"pool"}),
		cgroupOOM: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "poold_cgroup_oom_kills_total",
			Help: "Processes the OOM killer of poold's own cgroup's memory limit (a container's, the unit's MemoryMax=) killed that were no worker: a child of a worker without memory_max, such as a gunicorn or uvicorn worker (arbiter.unhealthy events with oom_kills). A worker's own OOM kill is a restart with reason oom (poold_worker_restarts_total); a kill under a pool's memory_max is in poold_worker_oom_kills_total.",
		}),
		abandoned: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "poold_reloads_abandoned_total",
			Help: "Rolling reloads of the pool abandoned: a new worker died, failed its readiness or could not start, so the old workers kept serving (reload_failed events), whatever asked for the reload (reload, set, a config reload). Completed ones are poold_reload_duration_seconds_count.",
		}, []string{"pool"}),
		stopKills: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "poold_worker_stop_kills_total",
			Help: "Workers poold killed (SIGKILL) because they had not stopped within graceful_timeout of their stop signal: a job cut short, a request dropped (reap events with reason graceful_timeout), whatever stopped them (stop, reload, scale-down, a recycle, poold's own stop).",
		}, []string{"pool"}),
		reloads: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "poold_reload_duration_seconds",
			Help:    "Seconds from a rollover of a pool's workers being asked for (reload command, or a config reload or set that changed what they run) until the pool settled: its target of current, ready workers and nothing in flight. One sample per rollover; a scale (numprocesses, incr, decr) adds none.",
			Buckets: ReloadBuckets,
		}, []string{"pool"}),
	}
	base := []prometheus.Collector{
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewGoCollector(),
		e.restarts,
		e.oomKills,
		e.cgroupOOM,
		e.abandoned,
		e.stopKills,
		e.reloads,
		e.usageIncomplete,
	}
	e.base = prometheus.NewRegistry()
	e.base.MustRegister(base...)
	e.reg.MustRegister(append(base, &snapshotCollector{e: e})...)
	return e
}

// Registry is the exporter's registry (tests gather from it directly).
func (e *Exporter) Registry() *prometheus.Registry { return e.reg }

// Handler serves the registry in the Prometheus text format (or another
// the scraper asks for). At most four scrapes run at once, and those
// that come together share one read of the pools (flight.go). A scrape
// answers within its bounds (bounds.go) with what it has: without the
// pools when the loop's Snapshot did not come (the other metrics, and
// why logged), without the workers' usage when /proc was not read in
// time (incomplete.go). It is answered 503 after twice ScrapeTimeout; a
// scraper that goes away, or a scrape that runs out of time, is logged
// once (scrapeEnd), not once per metric family. A text scrape writes the
// worker series itself (worker.go).
func (e *Exporter) Handler() http.Handler {
	sem := e.slots
	h := http.HandlerFunc(func(rsp http.ResponseWriter, req *http.Request) {
		select {
		case sem <- struct{}{}:
			defer func() { <-sem }()
		default:
			http.Error(rsp, fmt.Sprintf("Limit of concurrent requests reached (%d), try again later.", inFlight),
				http.StatusServiceUnavailable)
			return
		}
		in, err := e.read(req.Context(), e.boundsOf(req, time.Now()))
		if req.Context().Err() != nil {
			return // the scraper went away: scrapeEnd logs it
		}
		if err != nil {
			// promhttp's answer has the other metrics and logs why,
			// without asking the loop again: a scrape reads the pools
			// once.
			e.servedFrom(&snapshotCollector{e: e, failed: err}).ServeHTTP(rsp, req)
			return
		}
		format := expfmt.NegotiateAccept(req.Header, expfmt.DefaultAcceptedFormats()...)
		filtered := req.URL != nil && len(req.URL.Query()["name[]"]) > 0
		if format.FormatType() == expfmt.TypeTextPlain && !filtered {
			e.serveText(rsp, req, format, in)
			return
		}
		e.servedFrom(&snapshotCollector{e: e, given: in}).ServeHTTP(rsp, req)
	})
	limit := 2 * e.opts.ScrapeTimeout
	return http.TimeoutHandler(e.scrapeEnd(h, limit), limit, fmt.Sprintf(
		"poold: this scrape took longer than %v and was abandoned; poold's log says why\n", limit))
}

// servedFrom serves the other metrics and the pools as c gives them
// (what a scrape read, or the error of its read, logged), through
// promhttp: any format, name[] filters.
func (e *Exporter) servedFrom(c *snapshotCollector) http.Handler {
	pools := prometheus.NewRegistry()
	pools.MustRegister(c)
	return promhttp.HandlerFor(prometheus.Gatherers{e.base, pools}, promhttp.HandlerOpts{
		ErrorLog:      scrapeErrors{e.log},
		ErrorHandling: promhttp.ContinueOnError,
	})
}

// ownDropped counts the events Run's subscription lost.
func (e *Exporter) ownDropped() uint64 {
	if s := e.sub.Load(); s != nil {
		return s.Dropped()
	}
	return 0
}

// Ready is closed once Run has subscribed to the event bus: events from
// then on are counted.
func (e *Exporter) Ready() <-chan struct{} { return e.ready }

// Run counts restarts and times reloads from the event bus until ctx is
// done, then returns nil, once the scrapes' reads of the pools have
// ended (a scrape from then on has no pools). Without an event bus it
// only waits for ctx.
func (e *Exporter) Run(ctx context.Context) error {
	defer e.reads.Wait()
	defer func() {
		e.fmu.Lock()
		e.stopping = true
		e.fmu.Unlock()
		e.stopReads() // a read running now ends at its next part
	}()
	if e.opts.Events == nil {
		close(e.ready)
		<-ctx.Done()
		return nil
	}
	sub := e.opts.Events.Subscribe(events.DefaultQueue, "watcher.", "arbiter.unhealthy")
	defer sub.Close()
	e.sub.Store(sub)
	close(e.ready)
	t := e.newTracker()
	// The pools that exist, read once off this goroutine: one that never
	// publishes an event still gets its series.
	pools := make(chan []string, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); pools <- e.poolNames(ctx) }()
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return nil
		case names := <-pools:
			t.seed(names)
		case ev := <-sub.C():
			if ev.Watcher == "" { // arbiter.unhealthy: OOM kills in poold's cgroup (arbiter/oomouter.go)
				if n := intField(ev, fieldOOMKills); n > 0 {
					e.cgroupOOM.Add(float64(n))
				}
				continue
			}
			exists := t.apply(ev)
			switch {
			case ev.Kind == events.KindRemove:
				e.reloads.DeletePartialMatch(prometheus.Labels{"pool": ev.Watcher})
			case !exists:
			case ev.Kind == events.KindReload:
				e.timeReload(ctx, ev)
			}
		}
	}
}

// newTracker is the tracker that feeds the exporter's event-fed series.
func (e *Exporter) newTracker() *tracker {
	t := newTracker(e.restarts)
	t.oomKills, t.abandoned, t.stopKills = e.oomKills, e.abandoned, e.stopKills
	t.onNew = func(pool string) { e.reloads.WithLabelValues(pool) }
	t.onRespell = func(old, pool string) { // no histogram to carry: the old one goes
		e.reloads.DeletePartialMatch(prometheus.Labels{"pool": old})
		e.reloads.WithLabelValues(pool)
	}
	return t
}

// poolNames are the names of the pools in a Snapshot; none if there is
// none before ctx is done.
func (e *Exporter) poolNames(ctx context.Context) []string {
	snap, err := e.opts.Source.Snapshot(ctx)
	if err != nil {
		return nil
	}
	names := make([]string, 0, len(snap.Watchers))
	for _, w := range snap.Watchers {
		names = append(names, w.Name)
	}
	return names
}

// timeReload observes how long the pool of ev, a reload event, takes to
// settle from when the reload was asked for. A reload event ends each
// rollover, whatever asked for it (the reload command, a config reload or
// a set that changed what the workers run), once however many keys it
// changed: one rollover, one sample. An updated event is not timed: it
// comes with every change of options, once per option set, whether or not
// workers are replaced, and a change that only scales the pool (a config
// reload or set of numprocesses, as incr and decr) is no reload.
func (e *Exporter) timeReload(ctx context.Context, ev events.Event) {
	pool, t0 := ev.Watcher, ev.Time
	// reload comes when the workers are replaced, as in Circus; began
	// says when the reload was asked for.
	if began, ok := ev.Fields["began"].(float64); ok && began > 0 {
		t0 = time.Unix(0, int64(began*1e9))
	}
	obs := e.reloads.WithLabelValues(pool)
	e.opts.Source.OnSettled(ctx, pool, func(at time.Time, _ bool) {
		obs.Observe(max(at.Sub(t0).Seconds(), 0))
	})
}
