package metrics

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/watcher/proctest"
)

// countedSource is a Source whose Snapshot counts its calls and waits
// for release.
type countedSource struct {
	calls   atomic.Int64
	release chan struct{}
	fail    error // returned at once when set
}

func (c *countedSource) Snapshot(ctx context.Context) (arbiter.Snapshot, error) {
	c.calls.Add(1)
	if c.fail != nil {
		return arbiter.Snapshot{}, c.fail
	}
	select {
	case <-c.release:
		return arbiter.Snapshot{Taken: time.Now()}, nil
	case <-ctx.Done():
		return arbiter.Snapshot{}, ctx.Err()
	}
}

func (c *countedSource) ReadWorkerUsage(context.Context, arbiter.Snapshot) map[int]arbiter.Usage {
	return nil
}

func (c *countedSource) OnSettled(context.Context, string, func(time.Time, bool)) bool { return false }

// Scrapes that come while one gathers share its read, and a scrape whose
// scraper gives up frees its slot at once: in the soak two scrapers got
// 18 "Limit of concurrent requests reached (4)" because given-up scrapes
// each kept a slot and their own read for 5-10 s.
func TestConcurrentScrapesShareOneRead(t *testing.T) {
	src := &countedSource{release: make(chan struct{})}
	exp := New(Options{Source: src, ScrapeTimeout: hang})
	var arrived atomic.Int64
	h := exp.Handler()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived.Add(1)
		h.ServeHTTP(w, r)
	})}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = srv.Serve(l) }()
	defer func() { srv.Close(); wg.Wait() }()
	url := "http://" + l.Addr().String() + "/metrics"
	status := make(chan string, 16)
	scrape := func(ctx context.Context) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
			resp, err := client.Do(req)
			if err != nil {
				status <- "gave up"
				return
			}
			resp.Body.Close()
			status <- resp.Status
		}()
	}
	// waitingAll: every scrape that arrived reads or waits for a read.
	waitingAll := func() bool { return src.calls.Load()+sharedScrapes(exp) == arrived.Load() }

	scrape(context.Background()) // the first reads
	proctest.Eventually(t, "the first scrape reading", func() bool { return src.calls.Load() == 1 })
	ctx, giveUp := context.WithCancel(context.Background())
	for range 3 {
		scrape(ctx)
	}
	proctest.Eventually(t, "four scrapes waiting", func() bool { return arrived.Load() == 4 && waitingAll() })
	giveUp()
	for range 3 {
		if got := <-status; got != "gave up" {
			t.Fatalf("a scrape whose client gave up got %q", got)
		}
	}
	proctest.Eventually(t, "the given-up scrapes' slots free", func() bool { return busySlots(exp) == 1 })
	for range 3 {
		scrape(context.Background())
	}
	proctest.Eventually(t, "three more scrapes waiting for the read", func() bool {
		return arrived.Load() == 7 && waitingAll()
	})
	close(src.release)
	for i := range 4 {
		if got := <-status; got != "200 OK" {
			t.Fatalf("scrape %d of the 4 that stayed: %s; want 200 OK", i+1, got)
		}
	}
	if n := src.calls.Load(); n != 1 {
		t.Fatalf("7 scrapes that came together asked for %d Snapshots; want 1 (shared)", n)
	}
}

// A scrape whose read of the pools fails reads no more: the fallback that
// serves the other metrics reported the failure without asking the loop
// again. It asked again, so a loop slower than ScrapeTimeout held the
// scrape for a second ScrapeTimeout and it was abandoned, 503, at twice
// it (the reload test's "took longer than 10s" under load).
func TestFailedReadIsTheScrapesOnlyRead(t *testing.T) {
	var logs bytes.Buffer
	log := hclog.New(&hclog.LoggerOptions{Output: &logs, Mutex: &sync.Mutex{}})
	src := &countedSource{fail: context.DeadlineExceeded}
	exp := New(Options{Source: src, ScrapeTimeout: hang, Log: log})
	h := exp.Handler()
	for _, target := range []string{"/metrics", "/metrics?name[]=poold_pool_workers&name[]=go_goroutines"} {
		before := src.calls.Load()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", target, nil))
		if n := src.calls.Load() - before; n != 1 {
			t.Errorf("GET %s asked for %d Snapshots; want 1 (a failed read is not tried again)", target, n)
		}
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "go_goroutines") {
			t.Errorf("GET %s: %d, want 200 with the other metrics:\n%s", target, rec.Code, rec.Body)
		}
	}
	if s := logs.String(); !strings.Contains(s, "poold's loop did not answer this scrape's read of the pools within") {
		t.Errorf("the log does not say why the pools are missing:\n%s", s)
	}
}
