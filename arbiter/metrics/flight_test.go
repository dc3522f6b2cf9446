package metrics

import (
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/watcher/proctest"
)

// countedSource is a Source whose Snapshot counts its calls and waits
// for release.
type countedSource struct {
	calls   atomic.Int64
	release chan struct{}
}

func (c *countedSource) Snapshot(ctx context.Context) (arbiter.Snapshot, error) {
	c.calls.Add(1)
	select {
	case <-c.release:
		return arbiter.Snapshot{Taken: time.Now()}, nil
	case <-ctx.Done():
		return arbiter.Snapshot{}, ctx.Err()
	}
}

func (c *countedSource) WorkerUsage(arbiter.Snapshot) map[int]arbiter.Usage { return nil }

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
