package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// The console's cookies are signed under a key poold draws at start (r54
// webauth): an in-place upgrade hands it to the new image, so a browser
// signed in before is still signed in after, on the console and on the
// metrics listener, and nobody has to open the ?token= link again.
func TestUpgradeKeepsConsoleCookies(t *testing.T) {
	r := startHTTPRig(t)
	noRedirect := &http.Client{Timeout: hang, Transport: &http.Transport{DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get("http://" + r.web + "/?token=" + url.QueryEscape(httpRigToken))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if strings.HasPrefix(c.Name, "poold_token_") {
			cookie = c
		}
	}
	if cookie == nil {
		t.Fatalf("GET /?token=: %s and no console cookie", resp.Status)
	}
	status := func(u string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", u, nil)
		req.AddCookie(cookie)
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", u, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, u := range []string{"http://" + r.web + "/", "http://" + r.metrics + "/metrics"} {
		if code := status(u); code != http.StatusOK {
			t.Fatalf("GET %s with the console cookie before the upgrade: %d, want 200", u, code)
		}
	}
	if out, refused := r.p.upgrade(); refused != nil || out["state"] != "upgraded" {
		t.Fatalf("upgrade: %v %v", out, refused)
	}
	for _, u := range []string{"http://" + r.web + "/", "http://" + r.metrics + "/metrics"} {
		if code := status(u); code != http.StatusOK {
			t.Errorf("GET %s with the console cookie after the upgrade: %d, want 200 (the key handed over)", u, code)
		}
	}
}
