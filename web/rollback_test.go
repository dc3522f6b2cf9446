package web

import (
	"net/http"
	"strings"
	"testing"

	"github.com/poold/poold/configs"
)

// TestTokenRolledBackEndsOldSignIns (r54b sec L6): a cookie was an HMAC
// of the token under a key drawn at start, so setting [web] token back
// to an old value made every cookie of that token's first time valid
// again, on the console and on metrics_address. A token change ends the
// sign-ins made before it for good: after A, B, A again, neither A's
// first cookies nor B's get in, both listeners say to sign in again,
// and a fresh sign-in with A works on both.
func TestTokenRolledBackEndsOldSignIns(t *testing.T) {
	t.Parallel()
	const tokA, tokB = "token-a-0123456789", "token-b-0123456789"
	ts := startServer(t, newFakeBackend(t, map[string]int{"web": 1}), configs.Web{Enabled: true, Token: tokA}, nil)
	freeze(ts.fails)
	p, paddr := serveProbeServer(t, ProbeOptions{Token: tokA, Metrics: fakeMetrics, CookieKey: ts.opts.CookieKey})
	freeze(p.fails)
	metrics := "http://" + paddr + "/metrics"
	reload := func(tok string) {
		c := configs.Web{Enabled: true, Address: ts.addr, Token: tok}
		ts.Reconfigure(c)
		p.Reconfigure(c)
	}
	want := func(what, u string, c *http.Cookie, code int) {
		t.Helper()
		got, body := getBody(t, u, c)
		if got != code || (code == http.StatusUnauthorized && !strings.Contains(body, "sign in again")) {
			t.Errorf("%s: %d %.200q, want %d (a 401 saying to sign in again)", what, got, body, code)
		}
	}
	firstA := loginCookie(t, ts, tokA)
	want("console with A's cookie", ts.url+"/", firstA, http.StatusOK)
	want("metrics with A's cookie", metrics, firstA, http.StatusOK)

	reload(tokB)
	cookieB := loginCookie(t, ts, tokB)
	want("metrics with B's cookie", metrics, cookieB, http.StatusOK)
	reload(tokA)
	for name, c := range map[string]*http.Cookie{"A's cookie of before B": firstA, "B's cookie": cookieB} {
		want("console, token set back to A, with "+name, ts.url+"/", c, http.StatusUnauthorized)
		want("metrics, token set back to A, with "+name, metrics, c, http.StatusUnauthorized)
	}
	againA := loginCookie(t, ts, tokA)
	want("console with A's new cookie", ts.url+"/", againA, http.StatusOK)
	want("metrics with A's new cookie", metrics, againA, http.StatusOK)
}

// TestMetricsSaysWhyACookieIsRefused (r54b sec L8): on metrics_address
// a console cookie of before a restart got "token required", where the
// console says why and to sign in again.
func TestMetricsSaysWhyACookieIsRefused(t *testing.T) {
	t.Parallel()
	const token = "console-token-0123456789"
	ts := startServer(t, newFakeBackend(t, map[string]int{"web": 1}), configs.Web{Token: token}, nil)
	c := loginCookie(t, ts, token)
	// Another key: the metrics listener of a poold restarted since.
	restarted := serveProbes(t, ProbeOptions{Token: token, Metrics: fakeMetrics})
	code, body := getBody(t, restarted+"/metrics", c)
	if code != http.StatusUnauthorized || !strings.Contains(body, "poold restarted since you signed in") || !strings.Contains(body, "sign in again") {
		t.Errorf("/metrics with a cookie of before a restart: %d %.200q, want 401 saying poold restarted and to sign in again", code, body)
	}
}
