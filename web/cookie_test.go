package web

import (
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/poold/poold/configs"
)

// TestConsolesOfTwoPortsInOneBrowser: a browser sends a host's cookies to
// every port of it. Signed in to the consoles of two poolds on
// 127.0.0.1, each with its own token, both stay signed in, and the first
// one's reconnects are no failed tokens that lock 127.0.0.1 out.
func TestConsolesOfTwoPortsInOneBrowser(t *testing.T) {
	const tokA, tokB = "console-a-token-0123456789", "console-b-token-0123456789"
	a := startServer(t, newFakeBackend(t, map[string]int{"web": 1}), configs.Web{Token: tokA}, nil)
	b := startServer(t, newFakeBackend(t, map[string]int{"api": 1}), configs.Web{Token: tokB}, nil)

	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	browser := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	open := func(u string) int {
		t.Helper()
		resp, err := browser.Get(u)
		if err != nil {
			t.Fatalf("GET %s: %v", u, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := open(a.url + "/?token=" + url.QueryEscape(tokA)); code != http.StatusOK {
		t.Fatalf("sign in to %s: %d, want 200", a.addr, code)
	}
	if code := open(b.url + "/?token=" + url.QueryEscape(tokB)); code != http.StatusOK {
		t.Fatalf("sign in to %s: %d, want 200", b.addr, code)
	}
	for i := range apiFailBurst + 2 {
		for _, ts := range []*testServer{a, b} {
			if code := open(ts.url + "/"); code != http.StatusOK {
				t.Fatalf("console %s, visit %d after signing in to both: %d, want 200", ts.addr, i+1, code)
			}
		}
	}

	// The page's websocket carries the browser's cookies for its host.
	u, _ := url.Parse(a.url + "/ws")
	h := http.Header{"Origin": {a.url}}
	for _, c := range jar.Cookies(u) {
		h.Add("Cookie", c.Name+"="+c.Value)
	}
	c, resp, err := websocket.DefaultDialer.Dial("ws://"+a.addr+"/ws", h)
	if err != nil {
		code := 0
		if resp != nil {
			code = resp.StatusCode
		}
		t.Fatalf("console websocket of %s with the browser's cookies: %v (HTTP %d)", a.addr, err, code)
	}
	c.Close()
}

// TestCookieIsNamedForThePortTheBrowserAddressed: two poolds whose
// consoles both listen on 8080, reached through ssh -L or docker -p on
// two local ports, share the host name and the listen port; a cookie
// named for the listen port made one sign the other out. It is named
// for the port in the Host header, the one the browser addressed. And a
// browser signed in to the console reads /metrics on metrics_address
// with that cookie (the same token).
func TestCookieIsNamedForThePortTheBrowserAddressed(t *testing.T) {
	const tok = "console-token-0123456789"
	ts := startServer(t, newFakeBackend(t, map[string]int{"web": 1}), configs.Web{Token: tok}, nil)
	var got []*http.Cookie
	for _, port := range []string{"18080", "18081"} {
		resp := get(t, ts.url+"/?token="+url.QueryEscape(tok), func(r *http.Request) { r.Host = "127.0.0.1:" + port })
		resp.Body.Close()
		if len(resp.Cookies()) != 1 || resp.Cookies()[0].Name != cookiePrefix+port {
			t.Fatalf("sign in through port %s: cookies %v, want one named %s", port, resp.Cookies(), cookiePrefix+port)
		}
		got = append(got, resp.Cookies()[0])
	}
	metrics := serveProbes(t, ProbeOptions{Token: tok, Metrics: fakeMetrics, CookieKey: ts.opts.CookieKey})
	resp := get(t, metrics+"/metrics", func(r *http.Request) { r.AddCookie(got[0]) })
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/metrics on metrics_address with the console's cookie: %d, want 200", resp.StatusCode)
	}
	// Another poold's metrics listener (its own cookie key) refuses it.
	other := serveProbes(t, ProbeOptions{Token: tok, Metrics: fakeMetrics})
	resp = get(t, other+"/metrics", func(r *http.Request) { r.AddCookie(got[0]) })
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("/metrics of a poold with another cookie key, with the console's cookie: %d, want 401", resp.StatusCode)
	}
}
