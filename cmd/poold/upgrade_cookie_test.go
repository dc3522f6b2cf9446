package main

import (
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
)

// The console's cookies are signed under a key poold draws at start (r54
// webauth): an in-place upgrade hands it to the new image, so a browser
// signed in before is still signed in after, on the console and on the
// metrics listener, and nobody has to open the ?token= link again.
func TestUpgradeKeepsConsoleCookies(t *testing.T) {
	t.Parallel()
	r := startHTTPRig(t)
	cookie := r.signIn(httpRigToken)
	r.cookieWorks("before the upgrade", cookie, http.StatusOK)
	if out, refused := r.p.upgrade(); refused != nil || out["state"] != "upgraded" {
		t.Fatalf("upgrade: %v %v", out, refused)
	}
	r.cookieWorks("after the upgrade (the key handed over)", cookie, http.StatusOK)
}

// A change of [web] token draws a new cookie key (r54b sec L6): the
// upgrade hands over the key in force at the exec, not the one drawn at
// start, so a browser signed in with the new token stays signed in, and
// one of the old token stays out.
func TestUpgradeKeepsCookiesOfTheTokenInForce(t *testing.T) {
	t.Parallel()
	r := startHTTPRig(t)
	old := r.signIn(httpRigToken)
	const newToken = "n3w-s3cret-token-of-the-test"
	b, err := os.ReadFile(r.p.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(r.p.cfg, []byte(strings.Replace(string(b), httpRigToken, newToken, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if rep := r.p.do("reloadconfig", map[string]any{"waiting": true}); rep["status"] != "ok" {
		t.Fatalf("reloadconfig with a new [web] token: %v", rep)
	}
	cookie := r.signIn(newToken)
	r.cookieWorks("of the new token, before the upgrade", cookie, http.StatusOK)
	r.cookieWorks("of the old token, before the upgrade", old, http.StatusUnauthorized)
	if out, refused := r.p.upgrade(); refused != nil || out["state"] != "upgraded" {
		t.Fatalf("upgrade: %v %v", out, refused)
	}
	r.cookieWorks("of the new token, after the upgrade", cookie, http.StatusOK)
	r.cookieWorks("of the old token, after the upgrade", old, http.StatusUnauthorized)
}

// signIn opens the console's ?token= link and returns its cookie.
func (r *httpRig) signIn(token string) *http.Cookie {
	r.t.Helper()
	resp, err := noRedirect().Get("http://" + r.web + "/?token=" + url.QueryEscape(token))
	if err != nil {
		r.t.Fatal(err)
	}
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if strings.HasPrefix(c.Name, "poold_token_") {
			return c
		}
	}
	r.t.Fatalf("GET /?token=: %s and no console cookie", resp.Status)
	return nil
}

// cookieWorks checks that the console and /metrics on metrics_address
// answer want to a request with cookie.
func (r *httpRig) cookieWorks(when string, cookie *http.Cookie, want int) {
	r.t.Helper()
	for _, u := range []string{"http://" + r.web + "/", "http://" + r.metrics + "/metrics"} {
		req, _ := http.NewRequest("GET", u, nil)
		req.AddCookie(cookie)
		resp, err := noRedirect().Do(req)
		if err != nil {
			r.t.Fatalf("GET %s: %v", u, err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			r.t.Errorf("GET %s with the console cookie %s: %d, want %d", u, when, resp.StatusCode, want)
		}
	}
}

func noRedirect() *http.Client {
	return &http.Client{Timeout: hang, Transport: &http.Transport{DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}
