package metrics

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher/proctest"
)

// stuckUsage is the real arbiter whose /proc read of its workers' usage,
// while held, stays stuck until released whatever its bound says (as a
// read of /proc on a starved machine: 19.9 s seen at load 100), then
// returns every worker's usage, late.
type stuckUsage struct {
	*arbiter.Arbiter
	snaps   chan struct{} // one a Snapshot a scrape took (dropped when full)
	reads   atomic.Int64
	held    atomic.Bool
	entered chan struct{}
	release chan struct{}
	unstick func() // closes release, once
}

func (s *stuckUsage) Snapshot(ctx context.Context) (arbiter.Snapshot, error) {
	snap, err := s.Arbiter.Snapshot(ctx)
	select {
	case s.snaps <- struct{}{}:
	default:
	}
	return snap, err
}

func (s *stuckUsage) ReadWorkerUsage(ctx context.Context, snap arbiter.Snapshot) map[int]arbiter.Usage {
	s.reads.Add(1)
	if s.held.Load() {
		s.entered <- struct{}{}
		<-s.release
		return s.Arbiter.WorkerUsage(snap) // the late result, which must not be shown
	}
	return s.Arbiter.ReadWorkerUsage(ctx, snap)
}

// newStuckRig is a real arbiter with two serving workers and its
// exporter on a loopback port, logging into out; the usage read is held.
func newStuckRig(t *testing.T, out io.Writer) (*stuckUsage, string) {
	cfg := rigConfig()
	cfg.Arbiter = configs.DefaultArbiter()
	bus := events.NewBus(nil)
	log := hclog.New(&hclog.LoggerOptions{Output: out, Mutex: &sync.Mutex{}})
	a := arbiter.New(cfg, arbiter.Options{Log: hclog.NewNullLogger(), Events: bus})
	src := &stuckUsage{Arbiter: a, snaps: make(chan struct{}, 64), entered: make(chan struct{}, 1), release: make(chan struct{})}
	src.held.Store(true)
	var once sync.Once
	src.unstick = func() { once.Do(func() { close(src.release) }) }
	exp := New(Options{Source: src, Events: bus, Log: log})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: exp.Handler()}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); _ = exp.Run(ctx) }()
	<-exp.Ready()
	go func() { defer wg.Done(); _ = a.Run(ctx) }()
	go func() { defer wg.Done(); _ = srv.Serve(l) }()
	t.Cleanup(func() {
		src.unstick() // a test that failed left the read stuck: Run waits for it
		cancel()
		srv.Close()
		wg.Wait()
	})
	proctest.Eventually(t, "both workers ready", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), hang)
		defer cancel()
		s, err := a.Snapshot(ctx)
		return err == nil && len(arbiter.NotReady(s)) == 0
	})
	return src, "http://" + l.Addr().String() + "/metrics"
}

// boundedScrape GETs url as Prometheus does with a 4 s scrape_timeout,
// and parses the answer. A 503, no answer or one that does not parse
// fails the test; an answer without the pools (the loop did not answer
// in time: a loaded machine) is asked again.
func boundedScrape(t *testing.T, url string) (map[string]*dto.MetricFamily, []byte) {
	t.Helper()
	for {
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set(scrapeTimeoutHeader, "4")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("scrape with a 4 s scrape_timeout: no answer: %v", err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("scrape with a 4 s scrape_timeout: %s %v (want 200 with what poold had)\n%s", resp.Status, err, body)
		}
		p := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("scrape does not parse: %v\n%s", err, body)
		}
		if fams["poold_pool_workers"] != nil {
			return fams, body
		}
		t.Logf("a scrape without the pools (the loop was slow); asking again")
	}
}

// usageFamilies are the series a scrape reads of /proc.
var usageFamilies = []string{"poold_worker_resident_memory_bytes", "poold_worker_cpu_seconds_total",
	"poold_worker_tree_resident_memory_bytes", "poold_worker_tree_cpu_seconds_total",
	"poold_worker_tree_processes", "poold_pool_fd_usage_ratio"}

// A scrape answers within its bound when the /proc read of its workers'
// usage does not end: the pools' counts and states, no usage series
// (absent, not zero), and poold says how many workers and why, in its
// log and in poold_scrape_usage_incomplete_total. The read it started
// may still end later; its result is not used, and a scrape meanwhile
// does not start a second read. Before, the scrape waited for the read
// and was answered 503 at 10 s (19.9 s reads were seen under load).
func TestScrapeAnswersWithoutTheUsageItCouldNotRead(t *testing.T) {
	var logs syncBuf
	src, url := newStuckRig(t, &logs)

	fams, partial := boundedScrape(t, url)
	<-src.entered // the read it started is stuck
	checkPartial(t, fams, "timeout")
	if s := logs.String(); !strings.Contains(s, "reading it did not end within its bound") || !strings.Contains(s, "workers=2") {
		t.Errorf("the log does not say that 2 workers' usage was not read, and why:\n%s", s)
	}
	promtoolCheck(t, partial)

	// The read still runs: a new scrape answers without usage too, and
	// starts no second read beside it.
	fams, _ = boundedScrape(t, url)
	checkPartial(t, fams, "busy")
	if n := src.reads.Load(); n != 1 {
		t.Errorf("%d reads of /proc while one was stuck; want 1", n)
	}
	if s := logs.String(); !strings.Contains(s, "an earlier scrape's read of /proc still ran") {
		t.Errorf("the log does not say that another read still ran:\n%s", s)
	}

	src.held.Store(false)
	src.unstick()
	var full []byte
	proctest.Eventually(t, "a scrape with every worker's usage", func() bool {
		fams, full = boundedScrape(t, url)
		missing, _ := value(fams, "poold_scrape_usage_missing_workers", nil)
		return len(gaugeValues(fams, "poold_worker_resident_memory_bytes")) == 2 && missing == 0
	})
	promtoolCheck(t, full)
}

// checkPartial checks a scrape answered without its 2 workers' usage,
// for reason.
func checkPartial(t *testing.T, fams map[string]*dto.MetricFamily, reason string) {
	t.Helper()
	if got, _ := value(fams, "poold_pool_workers", map[string]string{"pool": "web", "state": "ready"}); got != 2 {
		t.Errorf("poold_pool_workers{state=ready} = %v, want 2: the loop's snapshot is served without the usage", got)
	}
	if n := len(fams["poold_worker_start_time_seconds"].GetMetric()); n != 2 {
		t.Errorf("%d poold_worker_start_time_seconds series, want 2 (from the snapshot)", n)
	}
	for _, name := range usageFamilies {
		if f := fams[name]; f != nil {
			t.Errorf("%s is in a scrape whose usage read did not end: %v", name, f.GetMetric())
		}
	}
	if got, ok := value(fams, "poold_scrape_usage_missing_workers", nil); got != 2 {
		t.Errorf("poold_scrape_usage_missing_workers = %v (found: %v), want 2", got, ok)
	}
	if got, _ := value(fams, "poold_scrape_usage_incomplete_total", map[string]string{"reason": reason}); got < 1 {
		t.Errorf("poold_scrape_usage_incomplete_total{reason=%q} = %v, want at least 1", reason, got)
	}
}

// A scrape's bound is Prometheus's scrape_timeout when it sends one
// below poold's own 10 s, else those 10 s; its reads take 80 % of it,
// the loop's Snapshot at most ScrapeTimeout of that.
func TestScrapeBoundsFollowTheScrapersTimeout(t *testing.T) {
	e := New(Options{Source: &countedSource{}})
	now := time.Unix(1000, 0)
	for _, c := range []struct {
		header      string
		total, snap time.Duration
	}{
		{"", 10 * time.Second, 5 * time.Second},
		{"10", 10 * time.Second, 5 * time.Second},
		{"30", 10 * time.Second, 5 * time.Second},
		{"2.5", 2500 * time.Millisecond, 2 * time.Second},
		{"0", 10 * time.Second, 5 * time.Second},
		{"-3", 10 * time.Second, 5 * time.Second},
		{"ten", 10 * time.Second, 5 * time.Second},
		{"NaN", 10 * time.Second, 5 * time.Second},
	} {
		req, _ := http.NewRequest("GET", "/metrics", nil)
		if c.header != "" {
			req.Header.Set(scrapeTimeoutHeader, c.header)
		}
		b := e.boundsOf(req, now)
		if b.total != c.total || b.snapBy.Sub(now) != c.snap || b.usageBy.Sub(now) != c.total*8/10 {
			t.Errorf("%s: %q: total %v, snapshot by +%v, usage by +%v; want %v, +%v, +%v", scrapeTimeoutHeader, c.header,
				b.total, b.snapBy.Sub(now), b.usageBy.Sub(now), c.total, c.snap, c.total*8/10)
		}
	}
}
