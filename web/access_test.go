package web

import (
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/proctest"
)

// loginCookie visits /?token= and returns the console cookie it sets.
func loginCookie(t *testing.T, ts *testServer, token string) *http.Cookie {
	t.Helper()
	resp := get(t, ts.url+"/?token="+url.QueryEscape(token), nil)
	for _, c := range resp.Cookies() {
		if strings.HasPrefix(c.Name, cookiePrefix) {
			return c
		}
	}
	t.Fatalf("GET /?token=: %d and no %s* cookie", resp.StatusCode, cookiePrefix)
	return nil
}

// dialWith opens a console websocket with the given request headers.
func dialWith(t *testing.T, ts *testServer, h http.Header) *wsClient {
	t.Helper()
	h = h.Clone()
	h.Set("Origin", "http://"+ts.addr)
	c, resp, err := websocket.DefaultDialer.Dial("ws://"+ts.addr+"/ws", h)
	if err != nil {
		code := 0
		if resp != nil {
			code = resp.StatusCode
		}
		t.Fatalf("websocket: %v (HTTP %d)", err, code)
	}
	t.Cleanup(func() { c.Close() })
	return &wsClient{t: t, c: c}
}

// closedWith reads until the server closes the console and returns the
// close code (0 if the connection ended without a close frame).
func (w *wsClient) closedWith() int {
	w.t.Helper()
	w.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		if _, _, err := w.c.ReadMessage(); err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				return ce.Code
			}
			var ne interface{ Timeout() bool }
			if errors.As(err, &ne) && ne.Timeout() {
				w.t.Fatalf("console still open after 10s: %v", err)
			}
			return 0
		}
	}
}

// A new token applies at once: consoles opened with the old one are
// closed, the old token and its cookie are refused, the new one works.
func TestReconfigureTokenEndsOldSessions(t *testing.T) {
	t.Parallel()
	const oldToken, newToken = "old horse", "new battery"
	ts := startServer(t, newFakeBackend(t, map[string]int{"web": 1}), configs.Web{Enabled: true, Token: oldToken}, nil)
	freeze(ts.fails)
	cookie := loginCookie(t, ts, oldToken)
	byCookie := dialWith(t, ts, http.Header{"Cookie": {cookie.Name + "=" + cookie.Value}})
	byBearer := dialWith(t, ts, http.Header{"Authorization": {"Bearer " + oldToken}})
	byCookie.next("hello", typeIs("hello"))
	byBearer.next("hello", typeIs("hello"))

	if restart := ts.Reconfigure(configs.Web{Enabled: true, Address: ts.addr, Token: newToken}); len(restart) != 0 {
		t.Errorf("Reconfigure(new token) = %q, want nothing needing a restart", restart)
	}
	for name, c := range map[string]*wsClient{"cookie": byCookie, "bearer": byBearer} {
		if code := c.closedWith(); code != websocket.ClosePolicyViolation {
			t.Errorf("console opened by %s with the old token: closed with %d, want %d", name, code, websocket.ClosePolicyViolation)
		}
	}
	proctest.Eventually(t, "consoles to unregister", func() bool { return ts.consoles() == 0 })

	for name, mod := range map[string]func(*http.Request){
		"old cookie": func(r *http.Request) { r.AddCookie(cookie) },
		"old bearer": func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+oldToken) },
	} {
		if resp := get(t, ts.url+"/", mod); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET / with the %s: %d, want 401", name, resp.StatusCode)
		}
	}
	if resp := get(t, ts.url+"/?token="+url.QueryEscape(oldToken), nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /?token=old: %d, want 401", resp.StatusCode)
	}
	if _, resp, err := websocket.DefaultDialer.Dial("ws://"+ts.addr+"/ws", http.Header{"Cookie": {cookie.Name + "=" + cookie.Value}}); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("websocket with the old cookie: %v, want 401", err)
	}

	fresh := loginCookie(t, ts, newToken)
	if fresh.Value == cookie.Value {
		t.Error("the new token mints the same cookie as the old one")
	}
	if resp := get(t, ts.url+"/", func(r *http.Request) { r.AddCookie(fresh) }); resp.StatusCode != http.StatusOK {
		t.Errorf("GET / with the new cookie: %d, want 200", resp.StatusCode)
	}
	c := dialWith(t, ts, http.Header{"Authorization": {"Bearer " + newToken}})
	c.next("hello", typeIs("hello"))
	c.send("s", "status", map[string]any{"name": "web"})
	if r := c.reply("s"); r["status"] != "active" {
		t.Errorf("status over a console opened with the new token: %v", r)
	}
}

// read_only applies at once: actions are refused on the consoles already
// open (they are closed, and a reconnecting page learns the mode).
func TestReconfigureReadOnly(t *testing.T) {
	t.Parallel()
	fake := newFakeBackend(t, map[string]int{"web": 1})
	ts := startServer(t, fake, configs.Web{Enabled: true}, nil)
	c := dialConsole(t, ts)
	c.next("hello", typeIs("hello"))
	if restart := ts.Reconfigure(configs.Web{Enabled: true, Address: ts.addr, ReadOnly: true}); len(restart) != 0 {
		t.Errorf("Reconfigure(read_only) = %q, want nothing needing a restart", restart)
	}
	if code := c.closedWith(); code != websocket.ClosePolicyViolation {
		t.Errorf("open console closed with %d, want %d", code, websocket.ClosePolicyViolation)
	}
	c = dialConsole(t, ts)
	if h := c.next("hello", typeIs("hello")); h["read_only"] != true {
		t.Errorf("hello after the reload: read_only = %v, want true", h["read_only"])
	}
	c.send("i", "incr", map[string]any{"name": "web"})
	if r := c.reply("i"); r["status"] != "error" || !strings.Contains(r["reason"].(string), "read-only") {
		t.Errorf("incr after read_only was switched on: %v", r)
	}
}

// Every [web] setting either applies on reload (the access in force is
// replaced) or Reconfigure names it as needing a restart; a setting added
// to configs.Web fails here until it is classified.
func TestReconfigureCoversEverySetting(t *testing.T) {
	t.Parallel()
	base := configs.Web{Enabled: true, Address: "127.0.0.1:18080", Token: "t"}
	typ := reflect.TypeOf(base)
	for i := range typ.NumField() {
		f := typ.Field(i)
		t.Run(f.Name, func(t *testing.T) {
			s, err := New(Options{Config: base, Backend: &fakeBackend{}})
			if err != nil {
				t.Fatal(err)
			}
			next := base
			v := reflect.ValueOf(&next).Elem().Field(i)
			switch {
			case f.Name == "APITokens" || f.Name == "Tokens":
				// Loaded together: the files named, and what they hold.
				next.APITokens = []string{"operator:/etc/poold/ops.token"}
				next.Tokens = []configs.APIToken{{Role: configs.RoleOperator, File: "/etc/poold/ops.token", Token: "0123456789abcdef"}}
			case f.Name == "Cert":
				// Loaded with tls_cert; on a console without TLS, turning
				// it on needs a restart (TestReloadServesRenewedCertificate
				// covers a console with TLS).
				next.TLSCert = "/etc/poold/cert.pem"
				next.Cert = &tls.Certificate{Certificate: [][]byte{{1}}}
			case v.Kind() == reflect.Bool:
				v.SetBool(!v.Bool())
			case v.Kind() == reflect.String:
				v.SetString(v.String() + "2")
			default:
				t.Fatalf("field %s of kind %s: teach this test how to change it", f.Name, v.Kind())
			}
			before := s.access.Load()
			restart := s.Reconfigure(next)
			applied := s.access.Load() != before
			key := "web." + snake(f.Name)
			if k, ok := map[string]string{"TLSCert": "tls_cert", "TLSKey": "tls_key", "Cert": "tls_cert", "APITokens": "api_tokens", "Tokens": "api_tokens"}[f.Name]; ok {
				key = "web." + k
			}
			if applied == slices.Contains(restart, key) {
				t.Errorf("changing %s: applied %v, restart needed %q; want exactly one of them", key, applied, restart)
			}
			if len(restart) > 1 {
				t.Errorf("changing %s alone: restart needed for %q", key, restart)
			}
		})
	}
}

// A token cannot be dropped while the console listens on a non-loopback
// address: the old one stays until the restart that moves it.
func TestReconfigureKeepsTokenOnRemoteAddress(t *testing.T) {
	t.Parallel()
	s, err := New(Options{Config: configs.Web{Enabled: true, Address: "0.0.0.0:18080", Token: "t"}, Backend: &fakeBackend{}})
	if err != nil {
		t.Fatal(err)
	}
	restart := s.Reconfigure(configs.Web{Enabled: true, Address: "127.0.0.1:18080"})
	if !slices.Equal(restart, []string{"web.address", "web.token"}) {
		t.Errorf("Reconfigure = %q, want web.address and web.token needing a restart", restart)
	}
	if a := s.access.Load(); a.token != "t" || !a.guard.hasToken {
		t.Error("token dropped on a console listening on 0.0.0.0")
	}
}

// snake turns a Go field name into its config key: ReadOnly -> read_only.
func snake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if r >= 'A' && r <= 'Z' {
			if i > 0 {
				b.WriteByte('_')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// TestStaleTokenIsNotAGuess: after a token change, a page that keeps
// reconnecting with its old cookie is told to sign in again and does not
// lock its address out: the new token still works. Nor does a cookie
// that never was valid (another console's): it is no guess (cookie.go).
func TestStaleTokenIsNotAGuess(t *testing.T) {
	t.Parallel()
	const oldToken, newToken = "old horse", "new battery"
	ts := startServer(t, newFakeBackend(t, map[string]int{"web": 1}), configs.Web{Enabled: true, Token: oldToken}, nil)
	freeze(ts.fails)
	cookie := loginCookie(t, ts, oldToken)
	ts.Reconfigure(configs.Web{Enabled: true, Address: ts.addr, Token: newToken})

	old := http.Header{"Cookie": {cookie.Name + "=" + cookie.Value}, "Origin": {"http://" + ts.addr}}
	var body []byte
	for i := range 3 * apiFailBurst {
		_, resp, err := websocket.DefaultDialer.Dial("ws://"+ts.addr+"/ws", old)
		if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
			code := 0
			if resp != nil {
				code = resp.StatusCode
			}
			t.Fatalf("websocket with the old cookie, try %d: HTTP %d (%v), want 401", i+1, code, err)
		}
		body, _ = io.ReadAll(resp.Body)
	}
	if !strings.Contains(string(body), "[web] token has since replaced") {
		t.Errorf("websocket with the old cookie: %q, want it to say the token was replaced", body)
	}
	if code, body := fetch(t, ts.url+"/", oldToken); code != http.StatusUnauthorized || !strings.Contains(body, "sign in again") {
		t.Errorf("GET / with the old token: %d %q, want 401 saying to sign in again", code, body)
	}
	if code, body := fetch(t, ts.url+"/", newToken); code != http.StatusOK {
		t.Fatalf("GET / with the new token after the old cookie's retries: %d %.80q, want 200", code, body)
	}
	req, _ := http.NewRequest("POST", ts.url+apiPrefix+"status", strings.NewReader("{}"))
	req.Header.Set("Authorization", "Bearer "+newToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("API status with the new token after the old cookie's retries: %d, want 200", resp.StatusCode)
	}

	// A cookie that proves no token, another console's (another
	// poold's on the same host and port, forwarded), is refused and
	// counts nothing: the new token still passes. Different made-up
	// tokens lock the address.
	name := cookiePrefix + ts.addr[strings.LastIndex(ts.addr, ":")+1:]
	other := newGuard("127.0.0.1", newToken, NewCookieKey()).mintCookie(time.Now().Add(time.Hour))
	for i := range 2 * apiFailBurst {
		resp := get(t, ts.url+"/", func(r *http.Request) { r.AddCookie(&http.Cookie{Name: name, Value: other}) })
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("GET / with another console's cookie, try %d: %d, want 401", i+1, resp.StatusCode)
		}
	}
	if code, _ := fetch(t, ts.url+"/", newToken); code != http.StatusOK {
		t.Errorf("GET / with the new token after %d cookies of another console: %d, want 200", 2*apiFailBurst, code)
	}
	for i := range apiFailBurst {
		resp := get(t, ts.url+"/", func(r *http.Request) { r.Header.Set("Authorization", "Bearer guess"+strconv.Itoa(i)) })
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("GET / with a made-up token, try %d: %d, want 401", i+1, resp.StatusCode)
		}
	}
	if code, _ := fetch(t, ts.url+"/", newToken); code != http.StatusTooManyRequests {
		t.Errorf("GET / with the new token after another console's cookie and %d made-up tokens: %d, want 429", apiFailBurst, code)
	}
}
