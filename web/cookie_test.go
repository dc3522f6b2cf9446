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
