package web

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/poold/poold/configs"
)

// TestRevokedTokenLocksOutOnlyItsClient: after a token rotation (r53b
// prod trial), a client still sending the revoked token (a scraper, a
// script, a console tab) failed 5 times from 127.0.0.1, and then every
// client there, the operator with the new token too, got 429. Failures
// are now counted per address and presented token: one wrong token
// repeated holds back only itself, while as many different wrong tokens
// (a guesser) still lock the whole address, the right token included.
func TestRevokedTokenLocksOutOnlyItsClient(t *testing.T) {
	t.Parallel()
	const oldTok, newTok = "0123456789abcdef-old", "0123456789abcdef-new"
	tokens := func(tok string) []configs.APIToken {
		return []configs.APIToken{{Role: configs.RoleOperator, File: "ops.token", Token: tok}}
	}
	ts := startServer(t, newFakeBackend(t, map[string]int{"web": 1}), configs.Web{Tokens: tokens(oldTok)}, nil)
	freeze(ts.fails)
	if code, rep := apiPost(t, ts.url, "status", oldTok, "{}"); code != http.StatusOK {
		t.Fatalf("status with the token in force: %d %v, want 200", code, rep)
	}
	ts.Reconfigure(configs.Web{Enabled: true, Address: ts.addr, Tokens: tokens(newTok)})

	held := ""
	for i := range 3 * apiFailBurst {
		code, rep := apiPost(t, ts.url, "status", oldTok, "{}")
		switch code {
		case http.StatusUnauthorized:
		case http.StatusTooManyRequests:
			held = fmt.Sprint(rep["reason"])
		default:
			t.Fatalf("status with the revoked token, try %d: %d %v, want 401 or 429", i+1, code, rep)
		}
	}
	if !strings.Contains(held, "from "+loopbackKey) || !strings.Contains(held, "other tokens") {
		t.Errorf("the revoked token, %d times: last 429 %q, want one naming the address and saying other tokens pass", 3*apiFailBurst, held)
	}
	if code, rep := apiPost(t, ts.url, "status", newTok, "{}"); code != http.StatusOK {
		t.Fatalf("status with the new token after the revoked one's %d retries: %d %v, want 200", 3*apiFailBurst, code, rep)
	}
	if code, body := fetch(t, ts.url+apiPrefix+"status", newTok); code == http.StatusTooManyRequests {
		t.Fatalf("GET status with the new token: %d %q, want no 429", code, body)
	}

	// A guesser: as many different wrong tokens lock the address (the
	// revoked token's first failure was one of them: a first try is
	// all a guess is).
	for i := range apiFailBurst - 1 {
		if code, rep := apiPost(t, ts.url, "status", fmt.Sprintf("guess-%016d", i), "{}"); code != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d %v, want 401", i+1, code, rep)
		}
	}
	code, rep := apiPost(t, ts.url, "status", newTok, "{}")
	if reason := fmt.Sprint(rep["reason"]); code != http.StatusTooManyRequests || !strings.Contains(reason, "too many failed attempts from "+loopbackKey) {
		t.Errorf("the new token after %d different wrong ones: %d %q, want 429 naming the address", apiFailBurst-1, code, reason)
	}
}

// TestRepeatedConsoleTokenLocksOutOnlyItself: the console and /metrics
// share the API's way of counting: a script or tab repeating one wrong
// token no longer keeps the right token out.
func TestRepeatedConsoleTokenLocksOutOnlyItself(t *testing.T) {
	t.Parallel()
	const token = "correct horse battery staple"
	console := func(t *testing.T) string {
		ts := startServer(t, newFakeBackend(t, map[string]int{"web": 1}), configs.Web{Token: token}, nil)
		freeze(ts.fails)
		return ts.url
	}
	for _, tc := range []struct {
		name, page string
		serve      func(*testing.T) string
	}{
		{"console", "/", console},
		{"metrics", "/metrics", func(t *testing.T) string {
			p, addr := serveProbeServer(t, ProbeOptions{Token: token, Metrics: fakeMetrics, Health: &fakeHealth{}})
			freeze(p.fails)
			return "http://" + addr
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := tc.serve(t)
			held := ""
			for range 3 * apiFailBurst {
				if code, body := fetch(t, base+tc.page, "stale token"); code == http.StatusTooManyRequests {
					held = body
				}
			}
			if !strings.Contains(held, "from "+loopbackKey) || !strings.Contains(held, "other tokens") {
				t.Errorf("GET %s with one wrong token %d times: last 429 %.160q, want one naming the address and saying other tokens pass", tc.page, 3*apiFailBurst, held)
			}
			if code, body := fetch(t, base+tc.page, token); code != http.StatusOK {
				t.Fatalf("GET %s with the right token after one wrong token's retries: %d %.120q, want 200", tc.page, code, body)
			}
		})
	}
}

// tokenRequest is a request from addr offering tok as a bearer token.
func tokenRequest(addr, tok string) *http.Request {
	r := &http.Request{RemoteAddr: addr, Header: http.Header{}, URL: &url.URL{Path: "/"}}
	r.Header.Set("Authorization", "Bearer "+tok)
	return r
}

// TestFailLimiterCountsATokenOnceAgainstItsAddress: a token repeated
// from an address counts against that address once, then against
// itself; different tokens each count against the address (and an
// IPv6 address's /64); the table of tokens holds keyed digests only,
// and stays bounded.
func TestFailLimiterCountsATokenOnceAgainstItsAddress(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	l := newFailLimiter(3, time.Hour)
	l.now = func() time.Time { return now }
	w := httptest.NewRecorder()
	for i := range 3 {
		if _, held := l.failed(w, bearerCreds(tokenRequest("192.0.2.1:5000", "stale")), "192.0.2.1"); held {
			t.Fatalf("the stale token is held back at its failure %d, burst 3", i+1)
		}
	}
	if secs, held := l.failed(w, bearerCreds(tokenRequest("192.0.2.1:5001", "stale")), "192.0.2.1"); !held || secs != 3600 || w.Header().Get("Retry-After") != "3600" {
		t.Fatalf("the stale token after 3 failures: held %v for %ds (Retry-After %q), want 3600s", held, secs, w.Header().Get("Retry-After"))
	}
	if b, _ := l.blocked("192.0.2.1"); b {
		t.Fatal("its address is blocked by one token's repeats")
	}
	for i := range 2 {
		if _, held := l.failed(w, bearerCreds(tokenRequest("192.0.2.1:5000", fmt.Sprint("guess", i))), "192.0.2.1"); held {
			t.Fatalf("guess %d is held back", i)
		}
	}
	if b, _ := l.blocked("192.0.2.1"); !b {
		t.Fatal("the address is not blocked after 3 different wrong tokens")
	}
	for i := range 5 * wideBurst {
		addr := fmt.Sprintf("2001:db8:1:2::%x", i)
		l.failed(w, bearerCreds(tokenRequest("["+addr+"]:5000", "stale")), addr)
	}
	if b, _, from := l.blockedFrom("2001:db8:1:2::beef"); !b || from != "2001:db8:1:2::/64" {
		t.Errorf("a /64 whose %d addresses each failed once: blocked %v as %q, want its /64", 5*wideBurst, b, from)
	}
	for k := range l.repeats.m {
		if strings.Contains(k, "stale") || strings.Contains(k, "guess") {
			t.Fatalf("the table of tokens holds a token: %q", k)
		}
	}
	for i := range maxFailEntries + 100 {
		l.failed(w, bearerCreds(tokenRequest("192.0.2.9:5000", fmt.Sprint("many", i))), "192.0.2.9")
	}
	if n := len(l.repeats.m); n > maxFailEntries {
		t.Errorf("the table of tokens holds %d entries, want at most %d", n, maxFailEntries)
	}
}

// TestFailLimiterConcurrentRepeats: requests racing with one new wrong
// token count it against their address once.
func TestFailLimiterConcurrentRepeats(t *testing.T) {
	t.Parallel()
	l := newFailLimiter(1000, time.Hour)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				l.failed(httptest.NewRecorder(), bearerCreds(tokenRequest("192.0.2.1:5000", "stale")), "192.0.2.1")
			}
		})
	}
	wg.Wait()
	l.mu.Lock()
	n := l.m["192.0.2.1"].n
	l.mu.Unlock()
	if n < 0.99 || n > 1 {
		t.Errorf("one token from 8 racing clients counted %.2f times against the address, want 1", n)
	}
}

// BenchmarkFailLimiterFailedNewToken is a new wrong token from an
// address once the table of tokens is full (a guesser's many tokens):
// each evicts one under the lock, and counts against its address too.
func BenchmarkFailLimiterFailedNewToken(b *testing.B) {
	l := newFailLimiter(5, time.Hour)
	w := httptest.NewRecorder()
	for i := range maxFailEntries {
		l.failed(w, bearerCreds(tokenRequest("192.0.2.1:5000", fmt.Sprint("fill", i))), "192.0.2.1")
	}
	i := 0
	for b.Loop() {
		i++
		l.failed(w, bearerCreds(tokenRequest("192.0.2.2:5000", fmt.Sprint("guess", i))), "192.0.2.2")
	}
}

// bearerCreds are the credentials the API counts for r: its bearer token.
func bearerCreds(r *http.Request) []string { return []string{presented(r)} }

// freeze stops l's clock, before the server it counts for gets a
// request: counts do not decay, so a test's lockout holds however slowly
// its requests run (a loaded machine, -race).
func freeze(l *failLimiter) {
	t := time.Unix(1_000_000_000, 0)
	l.frozen.Store(&t)
}

// TestStaleTokenStaysOnceAgainstItsAddressUnderAFlood: whether a stale
// token had failed from its address before was kept in the table of
// tokens, which a flood of new addresses (each failing a guess or two)
// pushed it out of; the stale token then counted against its address
// again and again, until its address was locked out with every client
// behind it. The mark is kept in the address's own entry now: a flood
// can only make the address forget its count, never add to it.
func TestStaleTokenStaysOnceAgainstItsAddressUnderAFlood(t *testing.T) {
	const size = 100
	now := time.Unix(1000, 0)
	l := newFailLimiterSized(apiFailBurst, apiFailDecay, size)
	l.now = func() time.Time { return now }
	w := httptest.NewRecorder()
	const victim = "192.0.2.1"
	stale := bearerCreds(tokenRequest(victim+":5000", "revoked-dashboard-token"))
	flooder := 0
	locked := 0
	for range 150 {
		now = now.Add(200 * time.Millisecond)
		if b, _ := l.blocked(victim); b {
			locked++
			continue
		}
		l.failed(w, stale, victim)
		for range size / 2 {
			flooder++
			addr := fmt.Sprintf("198.51.%d.%d", flooder>>8&255, flooder&255)
			for range apiFailBurst {
				l.failed(w, bearerCreds(tokenRequest(addr+":5000", "guess-"+addr)), addr)
			}
		}
	}
	if locked > 0 {
		t.Errorf("the address of one client repeating a stale token was locked out %d of 150 ticks while others flooded the table; want never (a repeated token counts once against its address)", locked)
	}
}
