package web

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/hashicorp/go-hclog"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher"
)

// fakeHealth answers probes from fields a test sets.
type fakeHealth struct {
	pingErr atomic.Pointer[error]
	ready   atomic.Bool
	busy    atomic.Bool // the loop works on: its ping times out, yet Live is ErrBusy
	stall   atomic.Bool // Snapshot waits until its ctx is done
	work    atomic.Uint64
}

// Work moves on at each call while the loop is busy.
func (f *fakeHealth) Work() uint64 {
	if f.busy.Load() {
		return f.work.Add(1)
	}
	return f.work.Load()
}

func (f *fakeHealth) Ping(ctx context.Context) error {
	if e := f.pingErr.Load(); e != nil {
		return *e
	}
	return nil
}

// Live is Ping, but for a loop the test says is busy: its ping times
// out, yet it went on working.
func (f *fakeHealth) Live(ctx context.Context) error {
	err := f.Ping(ctx)
	if f.busy.Load() && errors.Is(err, context.DeadlineExceeded) {
		return arbiter.ErrBusy
	}
	return err
}

func (f *fakeHealth) Snapshot(ctx context.Context) (arbiter.Snapshot, error) {
	if f.stall.Load() {
		<-ctx.Done()
		return arbiter.Snapshot{}, ctx.Err()
	}
	w := arbiter.WatcherSnapshot{Name: "web", Status: watcher.Active, Target: 1, Spec: configs.DefaultWatcher("web")}
	if f.ready.Load() {
		w.Processes = []watcher.Process{{Pid: 1, Wid: 1, State: watcher.ProcReady}}
	}
	return arbiter.Snapshot{Watchers: []arbiter.WatcherSnapshot{w}}, nil
}

var fakeMetrics = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	io.WriteString(w, "# TYPE poold_fake gauge\npoold_fake 1\n")
})

// fetch GETs url with an optional bearer token and returns status and body.
func fetch(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func serveProbes(t *testing.T, opts ProbeOptions) string {
	t.Helper()
	_, addr := serveProbeServer(t, opts)
	return "http://" + addr
}

// serveProbeServer is serveProbes that also returns the server, for a
// test that reconfigures it, and its address.
func serveProbeServer(t *testing.T, opts ProbeOptions) (*ProbeServer, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opts.Address = l.Addr().String()
	p, err := NewProbeServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return p, opts.Address
}

// TestProbeServer: the metrics_address listener guards /metrics with the
// token and leaves the probes open; healthz follows the loop's answer and
// readyz the workers'.
func TestProbeServer(t *testing.T) {
	t.Parallel()
	h := &fakeHealth{}
	base := serveProbes(t, ProbeOptions{Token: "s3cret", Metrics: fakeMetrics, Health: h})
	if code, _ := fetch(t, base+"/metrics", ""); code != http.StatusUnauthorized {
		t.Errorf("/metrics without token: %d", code)
	}
	if code, body := fetch(t, base+"/metrics", "s3cret"); code != http.StatusOK || !strings.Contains(body, "poold_fake 1") {
		t.Errorf("/metrics with token: %d %q", code, body)
	}
	if code, body := fetch(t, base+"/healthz", ""); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	stuck := context.DeadlineExceeded
	h.pingErr.Store(&stuck)
	if code, body := fetch(t, base+"/healthz", ""); code != http.StatusServiceUnavailable || !strings.Contains(body, "did not answer within 1s") {
		t.Errorf("/healthz with a stuck loop: %d %q", code, body)
	}
	h.busy.Store(true) // e.g. a reload starting a thousand workers, one fork after another
	if code, body := fetch(t, base+"/healthz", ""); code != http.StatusOK || !strings.HasPrefix(body, "ok: poold's event loop is busy") {
		t.Errorf("/healthz with a busy loop: %d %q, want 200: a liveness probe must not kill poold mid-reload", code, body)
	}
	h.busy.Store(false)
	if code, body := fetch(t, base+"/readyz", ""); code != http.StatusServiceUnavailable || !strings.Contains(body, `watcher "web" has 0 of 1 workers ready`) {
		t.Errorf("/readyz, no worker ready: %d %q", code, body)
	}
	h.ready.Store(true)
	if code, body := fetch(t, base+"/readyz", ""); code != http.StatusOK || body != "ready\n" {
		t.Errorf("/readyz: %d %q", code, body)
	}
	if _, err := NewProbeServer(ProbeOptions{Address: "9100"}); err == nil {
		t.Error("NewProbeServer accepted an address without a port")
	}
}

// TestReadyzWhileTheLoopIsBusy: a rolling reload of 1,000 workers kept
// the loop from giving /readyz a Snapshot for 5 to 13 s, and /readyz said
// 503 throughout, taking the pod out of its Service while its old
// workers served on. While the loop works on, /readyz repeats its last
// verdict, ready or not, and says so; a loop that is stuck still gets
// 503.
func TestReadyzWhileTheLoopIsBusy(t *testing.T) {
	h := &fakeHealth{}
	base := serveProbes(t, ProbeOptions{Health: h})
	h.ready.Store(true)
	if code, body := fetch(t, base+"/readyz", ""); code != http.StatusOK || body != "ready\n" {
		t.Fatalf("/readyz: %d %q", code, body)
	}
	h.stall.Store(true)
	h.busy.Store(true)
	if code, body := fetch(t, base+"/readyz", ""); code != http.StatusOK || !strings.HasPrefix(body, "ready (poold's event loop is busy: as found ") {
		t.Errorf("/readyz, ready then busy: %d %q, want 200 and the last verdict", code, body)
	}
	h.busy.Store(false)
	if code, body := fetch(t, base+"/readyz", ""); code != http.StatusServiceUnavailable || !strings.Contains(body, "did not answer") {
		t.Errorf("/readyz, stuck: %d %q, want 503", code, body)
	}
	h.stall.Store(false)
	h.ready.Store(false)
	if code, _ := fetch(t, base+"/readyz", ""); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz, no worker ready: %d", code)
	}
	h.stall.Store(true)
	h.busy.Store(true)
	if code, body := fetch(t, base+"/readyz", ""); code != http.StatusServiceUnavailable || !strings.Contains(body, `watcher "web" has 0 of 1 workers ready (poold's event loop is busy`) {
		t.Errorf("/readyz, not ready then busy: %d %q, want 503 and the last verdict", code, body)
	}
}

// TestProbeServerReconfigure: a reloaded token guards /metrics at once; a
// new metrics_address waits for a restart and says so.
func TestProbeServerReconfigure(t *testing.T) {
	t.Parallel()
	p, addr := serveProbeServer(t, ProbeOptions{Token: "old", Metrics: fakeMetrics})
	base := "http://" + addr
	if restart := p.Reconfigure(configs.Web{MetricsAddress: addr, Token: "new"}); len(restart) != 0 {
		t.Errorf("Reconfigure(token) = %q, want nothing needing a restart", restart)
	}
	if code, _ := fetch(t, base+"/metrics", "old"); code != http.StatusUnauthorized {
		t.Errorf("/metrics with the old token: %d", code)
	}
	if code, _ := fetch(t, base+"/metrics", "new"); code != http.StatusOK {
		t.Errorf("/metrics with the new token: %d", code)
	}
	if restart := p.Reconfigure(configs.Web{MetricsAddress: "127.0.0.1:1", Token: "new"}); len(restart) != 1 || restart[0] != "web.metrics_address" {
		t.Errorf("Reconfigure(address) = %q, want web.metrics_address", restart)
	}
}

// TestConsoleServesMetricsAndProbesBehindItsToken: on the console's own
// listener, /metrics and the probes pass the same checks as the page.
func TestConsoleServesMetricsAndProbesBehindItsToken(t *testing.T) {
	t.Parallel()
	fake := newFakeBackend(t, map[string]int{"web": 1})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &fakeHealth{}
	h.ready.Store(true)
	view := configs.APIToken{Role: configs.RoleReadOnly, File: "/etc/poold/view.token", Token: "view-token-0123456789"}
	s, err := New(Options{Config: configs.Web{Address: l.Addr().String(), Token: "s3cret", Tokens: []configs.APIToken{view}}, Backend: fake,
		Events: fake.Events, Stats: fake.Stats, Metrics: fakeMetrics, Health: h, Log: hclog.NewNullLogger()})
	if err != nil {
		t.Fatal(err)
	}
	serve(t, s, l)
	base := "http://" + l.Addr().String()
	for _, path := range []string{"/metrics", "/healthz", "/readyz"} {
		if code, _ := fetch(t, base+path, ""); code != http.StatusUnauthorized {
			t.Errorf("%s without token: %d", path, code)
		}
		if code, body := fetch(t, base+path, "s3cret"); code != http.StatusOK {
			t.Errorf("%s with token: %d %q", path, code, body)
		}
	}
	// A scraper's read-only API token reads /metrics, and nothing else
	// of the console.
	if code, body := fetch(t, base+"/metrics", view.Token); code != http.StatusOK || !strings.Contains(body, "poold_fake 1") {
		t.Errorf("/metrics with a read-only API token: %d %q", code, body)
	}
	if code, _ := fetch(t, base+"/", view.Token); code != http.StatusUnauthorized {
		t.Errorf("the console page with an API token: %d, want 401", code)
	}
}

func serve(t *testing.T, s *Server, l net.Listener) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("Serve: %v", err)
		}
	})
}

// TestHelloReplaysWithoutGap connects consoles in the middle of a burst
// of events: each sees, from its hello on, every event once, in order,
// with no gap up to the end of the burst; a console that reconnects with
// ?since= continues where it left off.
func TestHelloReplaysWithoutGap(t *testing.T) {
	t.Parallel()
	fake := newFakeBackend(t, map[string]int{"web": 1})
	fake.Events.KeepHistory(5000)
	ts := startServer(t, fake, configs.Web{}, nil)
	const burst = 1500
	var wg sync.WaitGroup
	wg.Add(1)
	half := make(chan struct{})
	go func() {
		defer wg.Done()
		for i := 0; i < burst; i++ {
			fake.Events.Publish("web", events.KindUpdated, map[string]any{"i": i})
			if i == burst/2 {
				close(half)
			}
		}
	}()
	<-half
	c := dialConsole(t, ts)
	hello := c.next("hello", typeIs("hello"))
	// The hello holds what was broadcast before it (nothing, if the hub
	// had not flushed yet); broadcasts bring the rest.
	seqs := eventSeqs(hello["events"])
	wg.Wait()
	last := fake.Events.Since(^uint64(0), 1).Through
	for len(seqs) == 0 || seqs[len(seqs)-1] < last {
		m := c.next("events", typeIs("events"))
		seqs = append(seqs, eventSeqs(m["events"])...)
	}
	assertConsecutive(t, seqs)

	// Reconnect from the middle of what it saw.
	since := seqs[len(seqs)/2]
	rc := dialSince(t, ts, since)
	again := rc.next("hello", typeIs("hello"))
	if again["resumed"] != true {
		t.Fatalf("hello with since=%d not resumed", since)
	}
	got := eventSeqs(again["events"])
	if len(got) == 0 || got[0] != since+1 || got[len(got)-1] != last {
		t.Fatalf("resumed from %d: %d events %v..%v, want %d..%d", since, len(got), first(got), lastOf(got), since+1, last)
	}
	assertConsecutive(t, got)
}

func dialSince(t *testing.T, ts *testServer, since uint64) *wsClient {
	t.Helper()
	h := http.Header{"Origin": {"http://" + ts.addr}}
	c, _, err := websocket.DefaultDialer.Dial("ws://"+ts.addr+"/ws?since="+strconv.FormatUint(since, 10), h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &wsClient{t: t, c: c}
}

func eventSeqs(v any) []uint64 {
	var out []uint64
	for _, e := range asSlice(v) {
		out = append(out, uint64(toFloat(e.(map[string]any)["seq"])))
	}
	return out
}

func assertConsecutive(t *testing.T, seqs []uint64) {
	t.Helper()
	for i := 1; i < len(seqs); i++ {
		if seqs[i] != seqs[i-1]+1 {
			t.Fatalf("seq %d follows %d (at %d of %d): a gap or a duplicate", seqs[i], seqs[i-1], i, len(seqs))
		}
	}
}

func first(s []uint64) any {
	if len(s) == 0 {
		return nil
	}
	return s[0]
}

func lastOf(s []uint64) any {
	if len(s) == 0 {
		return nil
	}
	return s[len(s)-1]
}

// TestMetricsTakeAReadOnlyAPIToken: the metrics listener took only the
// console's token, which also signs in to the console (an operator's,
// unless read_only): a scraper had to hold it. Any web.api_tokens token
// reads /metrics, a read-only one too, a reload's tokens at once; a wrong
// one is refused.
func TestMetricsTakeAReadOnlyAPIToken(t *testing.T) {
	t.Parallel()
	p, addr := serveProbeServer(t, ProbeOptions{Token: "console-token-0123456789", Metrics: fakeMetrics,
		Tokens: []configs.APIToken{{Role: configs.RoleReadOnly, File: "/etc/poold/view.token", Token: "view-token-0123456789"}}})
	base := "http://" + addr
	if code, body := fetch(t, base+"/metrics", "view-token-0123456789"); code != http.StatusOK || !strings.Contains(body, "poold_fake 1") {
		t.Errorf("/metrics with a read-only API token: %d %q", code, body)
	}
	if code, _ := fetch(t, base+"/metrics", "view-token-wrong"); code != http.StatusUnauthorized {
		t.Errorf("/metrics with a wrong token: %d", code)
	}
	p.Reconfigure(configs.Web{MetricsAddress: addr, Token: "console-token-0123456789",
		Tokens: []configs.APIToken{{Role: configs.RoleReadOnly, File: "/etc/poold/prom.token", Token: "prom-token-0123456789"}}})
	if code, _ := fetch(t, base+"/metrics", "view-token-0123456789"); code != http.StatusUnauthorized {
		t.Errorf("/metrics with a token a reload removed: %d", code)
	}
	if code, _ := fetch(t, base+"/metrics", "prom-token-0123456789"); code != http.StatusOK {
		t.Errorf("/metrics with a token a reload added: %d", code)
	}
}

// TestMetricsWithOnlyAPITokensNeedOne: a poold given only api_tokens (a
// read-only token for Prometheus, as the README advises, and no console)
// served /metrics on metrics_address to every client that sent no token
// at all, and logged token=false. Any token of api_tokens is needed.
func TestMetricsWithOnlyAPITokensNeedOne(t *testing.T) {
	t.Parallel()
	p, addr := serveProbeServer(t, ProbeOptions{Metrics: fakeMetrics, Health: &fakeHealth{},
		Tokens: []configs.APIToken{{Role: configs.RoleReadOnly, File: "/etc/poold/prom.token", Token: "prom-token-0123456789"}}})
	base := "http://" + addr
	if code, body := fetch(t, base+"/metrics", ""); code != http.StatusUnauthorized {
		t.Errorf("/metrics without a token, with api_tokens set: %d %.60q, want 401", code, body)
	}
	if code, body := fetch(t, base+"/metrics", "prom-token-0123456789"); code != http.StatusOK || !strings.Contains(body, "poold_fake 1") {
		t.Errorf("/metrics with the API token: %d %.60q", code, body)
	}
	if code, _ := fetch(t, base+"/healthz", ""); code != http.StatusOK {
		t.Errorf("/healthz without a token: %d, want 200 (probes need no secret)", code)
	}
	p.Reconfigure(configs.Web{MetricsAddress: addr})
	if code, _ := fetch(t, base+"/metrics", ""); code != http.StatusOK {
		t.Errorf("/metrics after a reload removed every token: %d, want 200", code)
	}
}
