package web

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/configs"
)

// unkeyedCookie is the console cookie as poold made it up to r53: a
// digest of the token with no key, which anyone could make from a guess.
func unkeyedCookie(token string) string {
	c := sha256.Sum256([]byte("poold web console cookie\x00" + token))
	return hex.EncodeToString(c[:])
}

// TestConsoleCookieCannotBeMadeFromTheToken (r54 webauth 1): the
// cookie was an unkeyed digest of the token, so whoever read one (a
// browser profile, a proxy's log) could guess the token offline at hash
// speed, or make the cookie from the token or a guess. It is now signed
// under a key poold draws at start: a cookie made from the right token
// without that key, in the old way or under another key, is refused;
// and, since it tells nothing of the token, it is no guess: however
// many, the right token still gets in.
func TestConsoleCookieCannotBeMadeFromTheToken(t *testing.T) {
	t.Parallel()
	const token = "hunter22"
	exp := strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)
	otherKey := newGuard("127.0.0.1", token, NewCookieKey()).mintCookie(time.Now().Add(time.Hour))
	for _, tc := range []struct{ name, page string }{{"console", "/"}, {"metrics", "/metrics"}} {
		t.Run(tc.name, func(t *testing.T) {
			base := cookieTarget(t, tc.page, token)
			for i, v := range []string{unkeyedCookie(token), otherKey, exp + "." + unkeyedCookie(token)} {
				for try := range apiFailBurst + 1 {
					resp := get(t, base+tc.page, func(r *http.Request) { r.AddCookie(&http.Cookie{Name: cookiePrefix + "80", Value: v}) })
					if resp.StatusCode != http.StatusUnauthorized {
						t.Fatalf("GET %s with cookie %d made from the token without poold's key, try %d: %d, want 401", tc.page, i, try+1, resp.StatusCode)
					}
				}
			}
			if code, body := fetch(t, base+tc.page, token); code != http.StatusOK {
				t.Errorf("GET %s with the right token after cookies made without the key: %d %.120q, want 200 (they are no guesses)", tc.page, code, body)
			}
		})
	}
}

// TestConsoleCookieAcrossRestartAndUpgrade: a restarted poold draws a
// new key, so every tab's cookie is refused, saying to sign in again,
// and none counts as a guess (a host of open tabs must not lock
// loopback out); an upgraded one is given the old key, so the same
// cookie still signs in. A cookie's expiry is under its MAC.
func TestConsoleCookieAcrossRestartAndUpgrade(t *testing.T) {
	t.Parallel()
	const token = "console-token-0123456789"
	key := NewCookieKey()
	before := startServerKey(t, token, key)
	var cookies []*http.Cookie
	for range apiFailBurst + 1 { // one browser each
		c := loginCookie(t, before, token)
		if c.MaxAge != int(cookieLife/time.Second) {
			t.Errorf("console cookie Max-Age %d, want %d", c.MaxAge, int(cookieLife/time.Second))
		}
		cookies = append(cookies, c)
	}
	restarted := startServerKey(t, token, NewCookieKey())
	freeze(restarted.fails)
	for i, c := range cookies {
		code, body := getBody(t, restarted.url+"/", c)
		if code != http.StatusUnauthorized || !strings.Contains(body, "poold restarted since you signed in") || !strings.Contains(body, "?token=") {
			t.Fatalf("GET / of a restarted poold with browser %d's cookie: %d %.160q, want 401 saying to sign in again", i, code, body)
		}
	}
	if code, body := fetch(t, restarted.url+"/", token); code != http.StatusOK {
		t.Errorf("GET / of a restarted poold with the token after %d old cookies: %d %.120q, want 200", len(cookies), code, body)
	}
	upgraded := startServerKey(t, token, HandedOverCookieKey(key.Bytes()))
	if code, body := getBody(t, upgraded.url+"/", cookies[0]); code != http.StatusOK {
		t.Errorf("GET / of an upgraded poold (the key handed over) with the cookie: %d %.120q, want 200", code, body)
	}
	g := upgraded.access.Load().guard
	expired := &http.Cookie{Name: cookies[0].Name, Value: g.mintCookie(time.Now().Add(-time.Minute))}
	if code, body := getBody(t, upgraded.url+"/", expired); code != http.StatusUnauthorized || !strings.Contains(body, "expired") {
		t.Errorf("GET / with an expired cookie: %d %.120q, want 401 saying it expired", code, body)
	}
	e, sum, _ := strings.Cut(cookies[0].Value, ".")
	n, _ := strconv.ParseInt(e, 10, 64)
	later := &http.Cookie{Name: cookies[0].Name, Value: strconv.FormatInt(n+365*24*3600, 10) + "." + sum}
	if code, _ := getBody(t, upgraded.url+"/", later); code != http.StatusUnauthorized {
		t.Errorf("GET / with the cookie's expiry moved a year on: %d, want 401", code)
	}
}

// startServerKey serves a console with token whose cookies are signed
// under key, as a poold started (or upgraded) with it.
func startServerKey(t *testing.T, token string, key *CookieKey) *testServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fake := newFakeBackend(t, map[string]int{"web": 1})
	s, err := New(Options{Config: configs.Web{Token: token, Address: l.Addr().String()}, Backend: fake, Events: fake.Events, Stats: fake.Stats, CookieKey: key})
	if err != nil {
		t.Fatal(err)
	}
	runServer(t, s, l)
	return &testServer{Server: s, fake: fake, addr: l.Addr().String(), url: "http://" + l.Addr().String()}
}

// getBody GETs u with cookie c and returns the status and body.
func getBody(t *testing.T, u string, c *http.Cookie) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	req.AddCookie(c)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// cookieTarget serves the console (page "/") or the metrics listener,
// with its limiter's clock stopped, and returns its base URL.
func cookieTarget(t *testing.T, page, token string) string {
	if page == "/metrics" {
		p, addr := serveProbeServer(t, ProbeOptions{Token: token, Metrics: fakeMetrics, Health: &fakeHealth{}})
		freeze(p.fails)
		return "http://" + addr
	}
	ts := startServer(t, newFakeBackend(t, map[string]int{"web": 1}), configs.Web{Token: token}, nil)
	freeze(ts.fails)
	return ts.url
}

// TestLoopbackIsOneAddress (r53b auth finding 2): every address of
// 127.0.0.0/8 reaches lo, and each was an address of its own, so a
// local user got a burst of guesses from each (3,020/s). They are one:
// different wrong tokens from 127.0.0.2, .3, ... lock out 127.0.0.1.
func TestLoopbackIsOneAddress(t *testing.T) {
	t.Parallel()
	const token = "0123456789abcdef-ops"
	ts := startServer(t, newFakeBackend(t, map[string]int{"web": 1}),
		configs.Web{Tokens: []configs.APIToken{{Role: configs.RoleOperator, File: "ops.token", Token: token}}}, nil)
	freeze(ts.fails)
	for i := range apiFailBurst {
		from := fmt.Sprintf("127.0.%d.%d", 1+i/200, 2+i%200)
		if code, body := postFrom(t, from, ts.url+apiPrefix+"status", fmt.Sprintf("guess-%016d", i)); code != http.StatusUnauthorized {
			t.Fatalf("guess %d from %s: %d %.120q, want 401", i+1, from, code, body)
		}
	}
	code, body := postFrom(t, "127.0.0.1", ts.url+apiPrefix+"status", token)
	if code != http.StatusTooManyRequests || !strings.Contains(body, "from "+loopbackKey) {
		t.Errorf("the right token from 127.0.0.1 after %d guesses from other loopback addresses: %d %.160q, want 429 naming loopback", apiFailBurst, code, body)
	}
}

// postFrom posts {} to u with a bearer token, from the local address src.
func postFrom(t *testing.T, src, u, tok string) (int, string) {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		}}}
	req, _ := http.NewRequest("POST", u, strings.NewReader("{}"))
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("POST %s from %s: %v", u, src, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
