package web

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/configs"
)

// A host that refuses the fleet view's token (revoked by a reload on that
// host) was shown "unreachable", though it answers: the operator looked
// for a network or poold problem. It is now shown "refused", saying to
// add the host again with its current token.
func TestFleetHostRefusingTheTokenIsShownRefused(t *testing.T) {
	t.Parallel()
	host := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"status": "error", "errno": 7, "reason": "invalid token: it matches none of web.api_tokens or web.token"}`)
	}))
	t.Cleanup(host.Close)
	last := fleetHostShown(t, host.URL, "revoked-token-0123")
	errText, _ := last["error"].(string)
	if last["state"] != "refused" || !strings.Contains(errText, "invalid token") || !strings.Contains(errText, "add it again") {
		t.Fatalf("a host refusing the token: state %v, error %q; want refused, saying to add it again", last["state"], errText)
	}
}

// A host that locked out the fleet view's address after failed tokens
// (sent by any client there) answers 429 with the same errno as a refused
// token. The view said "refused: remove the host and add it again with
// its current token", though the token is good and the host lets it in
// again once the lockout ends.
func TestFleetHostLockingOutTheAddressIsNotShownRefused(t *testing.T) {
	t.Parallel()
	host := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v1/events" {
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, ": open\n\n")
			w.(http.Flusher).Flush()
			<-r.Context().Done()
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After", "30")
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprint(w, `{"status": "error", "errno": 7, "reason": "too many failed attempts from 127.0.0.1; retry in 30s"}`)
	}))
	t.Cleanup(host.Close)
	last := fleetHostShown(t, host.URL, "good-token-0123456")
	errText, _ := last["error"].(string)
	if last["state"] == "refused" || strings.Contains(errText, "add it again") || !strings.Contains(errText, "too many failed") {
		t.Fatalf("a host locking out the address: state %v, error %q; want it not refused, with the host's reason", last["state"], errText)
	}
}

// fleetHostShown adds the host at url with token to a console's fleet
// view and returns the host's first view past "connecting".
func fleetHostShown(t *testing.T, url, token string) map[string]any {
	t.Helper()
	ts := startServer(t, newFakeBackend(t, map[string]int{"local": 1}), configs.Web{}, func(tu *tunings) {
		tu.retry = 10 * time.Millisecond
	})
	c := dialConsole(t, ts)
	c.next("hello", typeIs("hello"))
	c.send("add", "fleet_add", map[string]any{"url": url, "token": token})
	if rep := c.reply("add"); rep["status"] != "ok" {
		t.Fatalf("fleet_add: %v", rep)
	}
	var last map[string]any
	c.next("the host shown past connecting", func(m map[string]any) bool {
		if m["type"] != "fleet" {
			return false
		}
		hosts := asSlice(m["hosts"])
		if len(hosts) != 1 {
			return false
		}
		last = hosts[0].(map[string]any)
		return last["state"] != "connecting"
	})
	return last
}

// A host holding back the fleet view's token (revoked there, and sent
// again and again from this address: by the view, or poolctl with the
// same old token file) answers 429, and the view showed "unreachable"
// and retried it at its shortest interval. The held token's 429 now says
// the token is invalid (WWW-Authenticate), so it is shown refused with
// the host's reason, and tried no more than a refused token is.
func TestFleetHostHoldingTheTokenIsShownRefused(t *testing.T) {
	t.Parallel()
	const good, revoked = "0123456789abcdef-good", "0123456789abcdef-revoked"
	host := startServer(t, newFakeBackend(t, map[string]int{"far": 1}),
		configs.Web{Tokens: []configs.APIToken{{Role: configs.RoleReadOnly, File: "ro.token", Token: good}}}, nil)
	freeze(host.fails)
	for i := range apiFailBurst {
		if code, body := postFrom(t, "127.0.0.1", host.url+apiPrefix+"status", revoked); code != http.StatusUnauthorized {
			t.Fatalf("the revoked token, try %d: %d %.120q, want 401", i+1, code, body)
		}
	}
	last := fleetHostShown(t, host.url, revoked)
	errText, _ := last["error"].(string)
	if last["state"] != "refused" || !strings.Contains(errText, "failed again and again") || !strings.Contains(errText, "add it again") {
		t.Fatalf("a host holding back the token: state %v, error %q; want refused, with the host's reason and what to do", last["state"], errText)
	}
	if code, body := postFrom(t, "127.0.0.1", host.url+apiPrefix+"status", good); code != http.StatusOK {
		t.Errorf("the good token from the same address: %d %.120q, want 200 (only the revoked one is held)", code, body)
	}
}
