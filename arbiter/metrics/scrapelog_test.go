package metrics

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/watcher/proctest"
)

// heldSource is a Source whose Snapshot waits for release.
type heldSource struct {
	entered chan struct{}
	release chan struct{}
}

func (h *heldSource) Snapshot(ctx context.Context) (arbiter.Snapshot, error) {
	h.entered <- struct{}{}
	<-h.release
	return arbiter.Snapshot{Taken: time.Now()}, nil
}

func (h *heldSource) ReadWorkerUsage(context.Context, arbiter.Snapshot) map[int]arbiter.Usage {
	return nil
}

func (h *heldSource) OnSettled(context.Context, string, func(time.Time, bool)) bool { return false }

// syncBuf is a log output read while the server writes it.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A scraper that gives up mid-scrape is not poold's problem: one DEBUG
// line, no WARN per metric family (there were 18 at once).
func TestScraperGoneIsOneDebugLine(t *testing.T) {
	src := &heldSource{entered: make(chan struct{}, 1), release: make(chan struct{})}
	var out syncBuf
	log := hclog.New(&hclog.LoggerOptions{Output: &out, Level: hclog.Debug})
	exp := New(Options{Source: src, Log: log})
	reqs := make(chan context.Context, 1)
	h := exp.Handler()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqs <- r.Context()
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

	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+l.Addr().String()+"/metrics", nil)
	got := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		got <- err
	}()
	served := <-reqs
	<-src.entered // the scrape is gathering
	cancel()      // the scraper gives up
	if err := <-got; err == nil {
		t.Fatal("the scrape was answered although its client gave up")
	}
	select {
	case <-served.Done(): // poold saw the client go
	case <-time.After(hang):
		t.Fatal("the server did not notice that the scraper went away")
	}
	close(src.release) // the scrape goes on and writes to a gone client

	proctest.Eventually(t, "the scrape's end logged", func() bool {
		s := out.String()
		return strings.Contains(s, "scraper went away") || strings.Count(s, "[WARN]") >= 3
	})
	s := out.String()
	if n := strings.Count(s, "[WARN]"); n > 0 {
		t.Fatalf("a scraper that went away gave %d WARN lines; want none:\n%s", n, s)
	}
	if n := strings.Count(s, "scraper went away"); n != 1 {
		t.Fatalf("want one DEBUG line for the scrape, got %d:\n%s", n, s)
	}
	if !strings.Contains(s, "remote=127.0.0.1:") {
		t.Fatalf("the line does not name the scraper:\n%s", s)
	}
}

// Other errors still come at WARN.
func TestScrapeErrorsOtherThanAnEndAreWarnings(t *testing.T) {
	var out syncBuf
	e := scrapeErrors{hclog.New(&hclog.LoggerOptions{Output: &out})}
	e.Println("error encoding and sending metric family:", context.Canceled)
	e.Println("error encoding and sending metric family:", http.ErrHandlerTimeout)
	e.Println("error gathering metrics:", net.ErrClosed)
	s := out.String()
	if strings.Count(s, "[WARN]") != 1 || !strings.Contains(s, "error gathering metrics: use of closed network connection") {
		t.Fatalf("want exactly the gather error at WARN, got:\n%s", s)
	}
}
