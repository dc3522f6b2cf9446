package web

import (
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/poold/poold/configs"
)

// Who may reach the console: the Host header, the token, the
// websocket's Origin.

func TestHostHeaderChecked(t *testing.T) {
	t.Parallel()
	ts := startServer(t, newFakeBackend(t, map[string]int{"web": 1}), configs.Web{}, nil)
	_, port, _ := net.SplitHostPort(ts.addr)
	for host, want := range map[string]int{
		"127.0.0.1:" + port:              200,
		"localhost:" + port:              200,
		"[::1]:" + port:                  200,
		"LOCALHOST":                      200,
		"evil.example:" + port:           http.StatusMisdirectedRequest,
		"evil.example":                   http.StatusMisdirectedRequest,
		"127.0.0.1.evil.example:" + port: http.StatusMisdirectedRequest,
	} {
		for _, path := range []string{"/", "/ws", "/static/app.js"} {
			resp := get(t, ts.url+path, func(r *http.Request) { r.Host = host })
			got := resp.StatusCode
			if path == "/ws" && want == 200 {
				want := http.StatusBadRequest // a plain GET is not an upgrade
				if got != want {
					t.Errorf("Host %q GET %s: %d, want %d", host, path, got, want)
				}
				continue
			}
			if got != want {
				t.Errorf("Host %q GET %s: %d, want %d", host, path, got, want)
			}
		}
	}
}

func TestGuardHosts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		bind, token, host string
		want              bool
	}{
		{"127.0.0.1", "", "127.0.0.1:8080", true},
		{"127.0.0.1", "", "attacker.example:8080", false},
		{"192.0.2.10", "t", "192.0.2.10:8080", true},
		{"192.0.2.10", "t", "localhost:8080", true},
		{"192.0.2.10", "t", "attacker.example:8080", false},
		{"0.0.0.0", "t", "myhost.lan:8080", true}, // wildcard: the token protects
		{"console.example", "t", "CONSOLE.example:443", true},
	} {
		g := newGuard(tc.bind, tc.token, NewCookieKey())
		r := &http.Request{Host: tc.host}
		if got := g.hostOK(r); got != tc.want {
			t.Errorf("bind %s, Host %s: hostOK %v, want %v", tc.bind, tc.host, got, tc.want)
		}
	}
}

func TestTokenProtectsEverything(t *testing.T) {
	t.Parallel()
	const token = "correct horse battery staple"
	ts := startServer(t, newFakeBackend(t, map[string]int{"web": 1}), configs.Web{Token: token}, nil)

	for _, path := range []string{"/", "/static/app.js", "/static/app.css", "/ws", "/?token=wrong"} {
		if resp := get(t, ts.url+path, nil); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s without token: %d, want 401", path, resp.StatusCode)
		}
	}
	if resp := get(t, ts.url+"/", func(r *http.Request) { r.Header.Set("Authorization", "Bearer wrong") }); resp.StatusCode != 401 {
		t.Errorf("wrong bearer: %d, want 401", resp.StatusCode)
	}
	if resp := get(t, ts.url+"/static/app.js", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }); resp.StatusCode != 200 {
		t.Errorf("bearer: %d, want 200", resp.StatusCode)
	}

	// ?token= sets the cookie and strips the token from the URL.
	resp := get(t, ts.url+"/?token="+url.QueryEscape(token)+"&x=1", nil)
	// Location is relative (proxy_test.go): it resolves to /?x=1 here.
	if loc, err := resp.Request.URL.Parse(resp.Header.Get("Location")); resp.StatusCode != http.StatusSeeOther || err != nil || loc.RequestURI() != "/?x=1" {
		t.Fatalf("GET /?token=: %d Location %q, want 303 to /?x=1", resp.StatusCode, resp.Header.Get("Location"))
	}
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if strings.HasPrefix(c.Name, cookiePrefix) {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Value == "" || strings.Contains(cookie.Value, "horse") {
		t.Fatalf("cookie %+v: want HttpOnly SameSite=Strict carrying a digest of the token", cookie)
	}
	if resp := get(t, ts.url+"/", func(r *http.Request) { r.AddCookie(cookie) }); resp.StatusCode != 200 {
		t.Errorf("with cookie: %d, want 200", resp.StatusCode)
	}

	// The websocket: refused without, accepted with the cookie.
	wsURL := "ws://" + ts.addr + "/ws"
	if _, resp, err := websocket.DefaultDialer.Dial(wsURL, nil); err == nil || resp == nil || resp.StatusCode != 401 {
		t.Errorf("websocket without token: err %v, want 401", err)
	}
	forged := &http.Cookie{Name: cookie.Name, Value: token}
	if resp := get(t, ts.url+"/", func(r *http.Request) { r.AddCookie(forged) }); resp.StatusCode != 401 {
		t.Errorf("cookie holding the raw token: %d, want 401", resp.StatusCode)
	}
	for name, h := range map[string]http.Header{
		"cookie": {"Cookie": {cookie.Name + "=" + cookie.Value}},
		"bearer": {"Authorization": {"Bearer " + token}},
	} {
		c, _, err := websocket.DefaultDialer.Dial(wsURL, h)
		if err != nil {
			t.Fatalf("websocket with %s: %v", name, err)
		}
		c.Close()
	}
}

func TestWebsocketOriginChecked(t *testing.T) {
	t.Parallel()
	ts := startServer(t, newFakeBackend(t, map[string]int{"web": 1}), configs.Web{}, nil)
	wsURL := "ws://" + ts.addr + "/ws"
	for origin, ok := range map[string]bool{
		"":                                    true, // not a browser
		"http://" + ts.addr:                   true,
		"http://evil.example":                 false,
		"http://" + ts.addr + ".evil.example": false,
		"null":                                false,
		"file://":                             false,
	} {
		h := http.Header{}
		if origin != "" {
			h.Set("Origin", origin)
		}
		c, resp, err := websocket.DefaultDialer.Dial(wsURL, h)
		if ok {
			if err != nil {
				t.Errorf("Origin %q: %v, want accepted", origin, err)
				continue
			}
			c.Close()
		} else if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			if c != nil {
				c.Close()
			}
			t.Errorf("Origin %q: err %v, want 403", origin, err)
		}
	}
}

// wsClient is a test console.
type wsClient struct {
	t testing.TB
	c *websocket.Conn
}
