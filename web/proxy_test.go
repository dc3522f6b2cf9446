package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/poold/poold/configs"
)

// The console behind a reverse proxy that serves it under a path
// (nginx's location /ops/poold/ { proxy_pass http://poold/; }), as
// trial r67 "proxy" ran it.

const proxyPrefix = "/ops/poold/"

// prefixProxy serves ts's console under proxyPrefix of a proxy of its
// own on loopback, passing the browser's Host (nginx's Host $http_host)
// and Authorization on, and returns the console's URL there. Other paths
// get the proxy's 404, as from a server that serves other things too.
func prefixProxy(t testing.TB, ts *testServer) string {
	t.Helper()
	return prefixProxyHost(t, ts, true)
}

// prefixProxyHost is prefixProxy that, unless keepHost, sends poold's
// own address as Host (as nginx's Host $proxy_host does).
func prefixProxyHost(t testing.TB, ts *testServer, keepHost bool) string {
	t.Helper()
	target, err := url.Parse(ts.url)
	if err != nil {
		t.Fatal(err)
	}
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(target)
		pr.Out.URL.Path = "/" + strings.TrimPrefix(pr.In.URL.Path, proxyPrefix)
		pr.Out.URL.RawPath = ""
		if keepHost {
			pr.Out.Host = pr.In.Host
		}
	}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, proxyPrefix) {
			http.Error(w, "the proxy's own 404", http.StatusNotFound)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + proxyPrefix
}

// TestConsoleUnderPathPrefix: the page asked for /static/app.js and the
// rest at the host's root, which a proxy serving it under a path does
// not send to poold: no script, no style, never connected.
func TestConsoleUnderPathPrefix(t *testing.T) {
	ts := startServer(t, newFakeBackend(t, map[string]int{"web": 1}), configs.Web{}, nil)
	page := prefixProxy(t, ts)
	resp, err := http.Get(page)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d", page, resp.StatusCode)
	}
	base, _ := url.Parse(page)
	refs := regexp.MustCompile(`(?:src|href)="([^"#][^"]*)"`).FindAllStringSubmatch(string(b), -1)
	if len(refs) < 5 {
		t.Fatalf("the page refers to %d assets, want its scripts, style and icon: %q", len(refs), refs)
	}
	for _, m := range refs {
		u, err := base.Parse(m[1])
		if err != nil {
			t.Fatalf("%q: %v", m[1], err)
		}
		if code := get(t, u.String(), nil).StatusCode; code != 200 {
			t.Errorf("the page's %q is %s through the proxy: %d, want 200", m[1], u.Path, code)
		}
	}
	// What conn.js asks for beside the page: the websocket and the
	// "why refused" probe.
	for _, rel := range []string{"ws", "favicon.ico"} {
		if !strings.Contains(string(readAsset(t, "conn.js")), `besidePage("`+rel) {
			t.Errorf("conn.js does not ask for %q beside the page", rel)
		}
	}
	if code := get(t, page+"favicon.ico", nil).StatusCode; code != 200 {
		t.Errorf("favicon.ico beside the page: %d, want 200", code)
	}
	wsURL := "ws" + strings.TrimPrefix(page, "http") + "ws"
	c, _, err := websocket.DefaultDialer.Dial(wsURL, http.Header{"Origin": {"http://" + base.Host}})
	if err != nil {
		t.Fatalf("websocket %s through the proxy: %v", wsURL, err)
	}
	c.Close()
}

func readAsset(t *testing.T, name string) []byte {
	t.Helper()
	b, err := io.ReadAll(must(assets.Open(name)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestNoRootURLsInAssets: every URL the page's scripts and style ask
// for is relative to the page, so a proxy's path prefix stays.
func TestNoRootURLsInAssets(t *testing.T) {
	root := regexp.MustCompile(`(?:src|href)="/|url\(\s*['"]?/|fetch\(\s*['"]/|WebSocket\(|location\.host\b|['"]/(?:static|ws|favicon|api)\b`)
	for _, name := range []string{"index.html", "app.css", "app.js", "cards.js", "charts.js", "conn.js", "fleet.js", "logs.js", "panels.js", "util.js"} {
		for _, m := range root.FindAllString(string(readAsset(t, name)), -1) {
			if m == "WebSocket(" && name == "conn.js" {
				continue // checked by TestConsoleUnderPathPrefix: besidePage
			}
			t.Errorf("%s: %q asks for a URL at the host's root, not beside the page", name, m)
		}
	}
}

// TestTokenSignInStaysUnderPrefix: the ?token= sign-in redirected to
// Location: /, the proxy's root, out of the console.
func TestTokenSignInStaysUnderPrefix(t *testing.T) {
	const token = "tok-prefix-123"
	ts := startServer(t, newFakeBackend(t, map[string]int{"web": 1}), configs.Web{Token: token}, nil)
	page := prefixProxy(t, ts)
	for _, tc := range []struct{ ask, want string }{
		{"?token=" + token, proxyPrefix},
		{"?since=3&token=" + token, proxyPrefix + "?since=3"},
		{"static/app.js?token=" + token, proxyPrefix + "static/app.js"},
	} {
		asked, _ := url.Parse(page + tc.ask)
		resp := get(t, asked.String(), nil)
		loc, err := asked.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusSeeOther || err != nil || loc.RequestURI() != tc.want || loc.Host != asked.Host {
			t.Errorf("GET %s: %d Location %q (resolves to %v), want 303 to %s", asked.RequestURI(), resp.StatusCode, resp.Header.Get("Location"), loc, tc.want)
		}
	}
}

// TestProxyBasicAuthIsNoTokenGuess: a proxy's own Basic sign-in, passed
// on to poold, counted as a wrong console token: a team opening the
// console behind it locked every user out (429), the right token too.
func TestProxyBasicAuthIsNoTokenGuess(t *testing.T) {
	const token = "correct horse battery staple"
	ts := startServer(t, newFakeBackend(t, map[string]int{"web": 1}), configs.Web{Token: token}, nil)
	freeze(ts.fails)
	page := prefixProxy(t, ts)
	for i := range 2 * apiFailBurst {
		for _, path := range []string{"", "static/app.js", apiPrefix[1:] + "list"} {
			req, _ := http.NewRequest("GET", page+path, nil)
			req.SetBasicAuth("op"+strconv.Itoa(i), "pw"+strconv.Itoa(i))
			resp := do(t, req)
			if resp.code != http.StatusUnauthorized {
				t.Fatalf("GET %s with the proxy's Basic sign-in of user %d: %d %.200q, want 401", path, i, resp.code, resp.body)
			}
			if path == "" && !strings.Contains(resp.body, "is not a Bearer token and is ignored") {
				t.Errorf("401 for a Basic sign-in: %q, want it to say the header is ignored", resp.body)
			}
		}
	}
	// A stale ?token= repeated by users each with their own Basic
	// sign-in is one token repeated, which holds back only itself.
	for i := range 2 * apiFailBurst {
		req, _ := http.NewRequest("GET", page+"?token=stale", nil)
		req.SetBasicAuth("op"+strconv.Itoa(i), "pw")
		do(t, req)
	}
	if code, body := fetch(t, page, token); code != 200 {
		t.Fatalf("the right token after %d Basic sign-ins: %d %.200q, want 200", 2*apiFailBurst, code, body)
	}
	// A wrong Bearer still counts: different ones lock the address out.
	for i := range apiFailBurst {
		fetch(t, page, "guess"+strconv.Itoa(i))
	}
	if code, _ := fetch(t, page, token); code != http.StatusTooManyRequests {
		t.Errorf("the right token after %d wrong bearer tokens: %d, want 429", apiFailBurst, code)
	}
}

// TestMetricsBasicAuthIsNoTokenGuess: the same on metrics_address, for
// a scraper behind a proxy's Basic sign-in.
func TestMetricsBasicAuthIsNoTokenGuess(t *testing.T) {
	const token = "correct horse battery staple"
	p, addr := serveProbeServer(t, ProbeOptions{Token: token, Metrics: fakeMetrics, Health: &fakeHealth{}})
	freeze(p.fails)
	for i := range 2 * apiFailBurst {
		req, _ := http.NewRequest("GET", "http://"+addr+"/metrics", nil)
		req.SetBasicAuth("prom"+strconv.Itoa(i), "pw")
		if r := do(t, req); r.code != http.StatusUnauthorized || !strings.Contains(r.body, "token required") {
			t.Fatalf("/metrics with a Basic sign-in %d: %d %.200q, want 401 token required", i, r.code, r.body)
		}
	}
	if code, body := fetch(t, "http://"+addr+"/metrics", token); code != 200 {
		t.Errorf("/metrics with the right token after the Basic sign-ins: %d %.200q, want 200", code, body)
	}
}

type reply struct {
	code int
	body string
}

func do(t *testing.T, req *http.Request) reply {
	t.Helper()
	c := &http.Client{Timeout: time.Minute, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, string(b)}
}
