package metrics

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/watcher"
	"github.com/poold/poold/watcher/proctest"
)

// gateSource is a Source whose Snapshot and usage read each wait to be
// let go (snapGo, usageGo closed) or for their context; snapIn and
// usageIn say when one begins.
type gateSource struct {
	snapIn, usageIn chan struct{}
	snapGo, usageGo chan struct{}
}

func newGateSource() *gateSource {
	return &gateSource{
		snapIn: make(chan struct{}, 16), usageIn: make(chan struct{}, 16),
		snapGo: make(chan struct{}), usageGo: make(chan struct{}),
	}
}

func (g *gateSource) Snapshot(ctx context.Context) (arbiter.Snapshot, error) {
	g.snapIn <- struct{}{}
	select {
	case <-g.snapGo:
		return arbiter.Snapshot{Taken: time.Now(), Watchers: []arbiter.WatcherSnapshot{{
			Name: "web", Processes: []watcher.Process{{Pid: 4242}},
		}}}, nil
	case <-ctx.Done():
		return arbiter.Snapshot{}, ctx.Err()
	}
}

func (g *gateSource) ReadWorkerUsage(ctx context.Context, _ arbiter.Snapshot) map[int]arbiter.Usage {
	g.usageIn <- struct{}{}
	select {
	case <-g.usageGo:
		return map[int]arbiter.Usage{4242: {RSS: 1 << 20}}
	case <-ctx.Done():
		return nil
	}
}

func (g *gateSource) OnSettled(context.Context, string, func(time.Time, bool)) bool { return false }

// boundsFor is a scrape's bounds beginning now: its Snapshot waited for
// up to snap, its usage read up to usage.
func boundsFor(snap, usage time.Duration) bounds {
	now := time.Now()
	return bounds{began: now, total: usage, snapBy: now.Add(snap), usageBy: now.Add(usage)}
}

type readResult struct {
	in  *scrapeInput
	err error
}

// readAsync reads in the background.
func readAsync(e *Exporter, b bounds) chan readResult {
	c := make(chan readResult, 1)
	go func() {
		in, err := e.read(context.Background(), b)
		c <- readResult{in, err}
	}()
	return c
}

// joined waits until n scrapes shared a read.
func joined(t *testing.T, e *Exporter, n int64) {
	t.Helper()
	proctest.Eventually(t, "the scrape joins the running read", func() bool { return sharedScrapes(e) >= n })
}

// A scrape that shares a read begun by a scrape with a shorter bound
// gets what its own bound allows: the usage read, cut at the first
// scrape's bound, left the second (a Prometheus with a longer
// scrape_timeout) without usage, and its WARN named the first one's
// bound (r65 review2 L1).
func TestSharedReadLastsForTheLongestBound(t *testing.T) {
	src := newGateSource()
	close(src.snapGo)
	e := New(Options{Source: src})
	short := readAsync(e, boundsFor(hang, 2*time.Second))
	<-src.usageIn
	long := readAsync(e, boundsFor(hang, 10*time.Minute))
	joined(t, e, 1)
	if r := <-short; r.err != nil || r.in.missing.reason != reasonTimeout {
		t.Fatalf("the short scrape: %+v, %v; want its usage cut at its own bound", r.in, r.err)
	}
	close(src.usageGo) // the read ends after the short bound, within the long one
	r := <-long
	if r.err != nil || r.in.missing.reason != "" || len(r.in.usage) != 1 {
		t.Fatalf("the long scrape: missing %+v, usage %v, err %v; want the usage its own bound waited for", r.in.missing, r.in.usage, r.err)
	}
}

// The same for the loop's Snapshot: a scrape that joins a read still
// waiting for the loop waits until its own bound, not the first
// scrape's, which had answered it with the first one's error.
func TestSharedSnapshotWaitsForTheLongestBound(t *testing.T) {
	src := newGateSource()
	close(src.usageGo)
	e := New(Options{Source: src})
	short := readAsync(e, boundsFor(2*time.Second, 2*time.Second))
	<-src.snapIn
	long := readAsync(e, boundsFor(10*time.Minute, 10*time.Minute))
	joined(t, e, 1)
	if r := <-short; r.err == nil || !strings.Contains(r.err.Error(), "within 2s") {
		t.Fatalf("the short scrape: %v; want the loop's answer missed within its own 2s", r.err)
	}
	close(src.snapGo)
	r := <-long
	if r.err != nil || len(r.in.usage) != 1 {
		t.Fatalf("the long scrape: %v; want the Snapshot and usage its own bound waited for", r.err)
	}
}

// Scrapes that share a read cut short count one each, but the log says
// it once (r65 review2 L2).
func TestSharedCutReadWarnsOnce(t *testing.T) {
	src := newGateSource()
	close(src.snapGo)
	var logs syncBuf
	e := New(Options{Source: src, Log: hclog.New(&hclog.LoggerOptions{Output: &logs, Mutex: &sync.Mutex{}})})
	b := boundsFor(hang, 2*time.Second)
	first := readAsync(e, b)
	<-src.usageIn
	var all []chan readResult
	all = append(all, first)
	for i := 0; i < 3; i++ {
		all = append(all, readAsync(e, b)) // the same bound: the read is cut for all
		joined(t, e, int64(i+1))
	}
	for _, c := range all {
		if r := <-c; r.err != nil || r.in.missing.reason != reasonTimeout {
			t.Fatalf("scrape: %+v, %v; want its usage cut", r.in, r.err)
		}
	}
	if n := strings.Count(logs.String(), "scrape answered without the /proc usage"); n != 1 {
		t.Errorf("%d WARNs for one cut read shared by 4 scrapes, want 1:\n%s", n, logs.String())
	}
	if n := testutil.ToFloat64(e.usageIncomplete.WithLabelValues(reasonTimeout)); n != 4 {
		t.Errorf("poold_scrape_usage_incomplete_total{reason=timeout} = %v, want 4 (it counts scrapes)", n)
	}
}

// Run cuts a usage read that runs as it stops: it waited for the read's
// whole bound (up to 8 s, and one /proc pass over 10,000 workers on a
// loaded machine took 20 s), holding poold's exit.
func TestRunCutsARunningReadAsItStops(t *testing.T) {
	src := newGateSource()
	close(src.snapGo)
	e := New(Options{Source: src})
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- e.Run(ctx) }()
	<-e.Ready()
	scrape := readAsync(e, boundsFor(time.Hour, time.Hour))
	<-src.usageIn
	cancel()
	select {
	case <-ran:
	case <-time.After(hang): // a bound that catches a hang, not a timing
		close(src.usageGo)
		<-ran
		t.Fatalf("Run waited for a usage read whose bound is an hour away")
	}
	if r := <-scrape; r.err == nil {
		t.Errorf("the scrape cut by the stop answered %+v; want that poold's metrics stop", r.in)
	}
}
