package web

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/configs"
)

// guessCookie is the console cookie a guesser makes from a guessed
// token, the way poold derives it from the token in force.
func guessCookie(r *http.Request, guess string) {
	g := newGuard("127.0.0.1", guess)
	r.AddCookie(&http.Cookie{Name: cookiePrefix + "80", Value: g.cookie})
}

// TestConsoleCookieGuessesAreLimited (r53b auth finding 1): a wrong
// console cookie was never counted, so a short [web] token was found at
// 14-16k guesses/s through / and /metrics, cookies made from guesses. A
// made-up cookie now costs what a made-up bearer token costs: after the
// burst even the right cookie and the right token wait. A request
// stuffed with cookies tries no more than maxConsoleCookies of them, and
// each counts.
func TestConsoleCookieGuessesAreLimited(t *testing.T) {
	const token = "hunter22"
	for _, tc := range []struct{ name, page string }{{"console", "/"}, {"metrics", "/metrics"}} {
		t.Run(tc.name, func(t *testing.T) {
			base := cookieTarget(t, tc.page, token)
			for i := range apiFailBurst {
				resp := get(t, base+tc.page, func(r *http.Request) { guessCookie(r, fmt.Sprint("guess", i)) })
				if resp.StatusCode != http.StatusUnauthorized {
					t.Fatalf("GET %s with a cookie made from guess %d: %d, want 401", tc.page, i+1, resp.StatusCode)
				}
			}
			resp := get(t, base+tc.page, func(r *http.Request) { guessCookie(r, token) })
			if resp.StatusCode != http.StatusTooManyRequests {
				t.Errorf("GET %s with the right cookie after %d made-up ones: %d, want 429", tc.page, apiFailBurst, resp.StatusCode)
			}
			if code, body := fetch(t, base+tc.page, token); code != http.StatusTooManyRequests || !strings.Contains(body, "too many failed tokens from "+loopbackKey) {
				t.Errorf("GET %s with the right token after %d made-up cookies: %d %.120q, want 429 naming the address", tc.page, apiFailBurst, code, body)
			}
		})
	}
	t.Run("stuffed", func(t *testing.T) {
		base := cookieTarget(t, "/", token)
		resp := get(t, base+"/", func(r *http.Request) {
			for i := range 50 {
				guessCookie(r, fmt.Sprint("stuffed", i))
			}
			guessCookie(r, token)
		})
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("GET / with 50 made-up cookies and then the right one: %d, want 401 (only %d are tried)", resp.StatusCode, maxConsoleCookies)
		}
		for i := maxConsoleCookies; i < apiFailBurst; i++ {
			get(t, base+"/", func(r *http.Request) { guessCookie(r, fmt.Sprint("guess", i)) })
		}
		if code, _ := fetch(t, base+"/", token); code != http.StatusTooManyRequests {
			t.Errorf("GET / with the right token after a request of %d tried cookies and %d more: %d, want 429", maxConsoleCookies, apiFailBurst-maxConsoleCookies, code)
		}
	})
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
