package web

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/poold/poold/configs"
)

// TestConsoleClosedWithOnlyAPITokens: api_tokens alone (beyond loopback
// they let New accept the address) are the API's: the page, the
// websocket and the probes stay closed to a caller without the console's
// token, while the API answers its own tokens. On loopback too: there an
// open console ran an operator's commands for any local user, past the
// roles of the tokens.
func TestConsoleClosedWithOnlyAPITokens(t *testing.T) {
	t.Parallel()
	for _, addr := range []string{"0.0.0.0:9", "127.0.0.1:9"} {
		t.Run(addr, func(t *testing.T) { consoleClosedWithOnlyAPITokens(t, addr) })
	}
}

func consoleClosedWithOnlyAPITokens(t *testing.T, addr string) {
	const apiTok = "0123456789abcdef0123"
	cfg := configs.Web{Address: addr, Tokens: []configs.APIToken{{Role: configs.RoleOperator, File: "ops.token", Token: apiTok}}}
	ts := startServer(t, newFakeBackend(t, map[string]int{"web": 1}), cfg, nil)
	for _, path := range []string{"/", "/static/app.js", "/healthz", "/?token=" + apiTok} {
		code, body := fetch(t, ts.url+path, "")
		if code != http.StatusUnauthorized || !strings.Contains(body, "[web] token is not set") {
			t.Errorf("GET %s: %d %.80q, want 401 saying the console token is not set", path, code, body)
		}
	}
	if code, _ := fetch(t, ts.url+"/", apiTok); code != http.StatusUnauthorized {
		t.Errorf("GET / with an API token: %d, want 401", code)
	}
	if _, resp, err := websocket.DefaultDialer.Dial("ws://"+ts.addr+"/ws", nil); err == nil || resp == nil || resp.StatusCode != 401 {
		t.Errorf("websocket: err %v, want 401", err)
	}
	req, _ := http.NewRequest("POST", ts.url+apiPrefix+"status", strings.NewReader("{}"))
	req.Header.Set("Authorization", "Bearer "+apiTok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("API status with its token: %d, want 200", resp.StatusCode)
	}
}

// TestTokenGuessesAreLimited: the console and the metrics listener count
// failed tokens per address as the API does: after the burst even the
// right token waits. A request that offers no token is not a guess.
func TestTokenGuessesAreLimited(t *testing.T) {
	t.Parallel()
	const token = "correct horse battery staple"
	console := func(t *testing.T) string {
		ts := startServer(t, newFakeBackend(t, map[string]int{"web": 1}), configs.Web{Token: token}, nil)
		freeze(ts.fails)
		return ts.url
	}
	for _, tc := range []struct {
		name, path, guess string
		serve             func(*testing.T) string
	}{
		{"console bearer", "/", "guess", console},
		{"console query", "/?token=guess", "", console},
		{"metrics bearer", "/metrics", "guess", func(t *testing.T) string {
			p, addr := serveProbeServer(t, ProbeOptions{Token: token, Metrics: fakeMetrics, Health: &fakeHealth{}})
			freeze(p.fails)
			return "http://" + addr
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := tc.serve(t)
			page, _, _ := strings.Cut(tc.path, "?")
			for range 2 * apiFailBurst {
				if code, _ := fetch(t, base+page, ""); code != http.StatusUnauthorized {
					t.Fatalf("GET %s without a token: %d, want 401", page, code)
				}
			}
			for i := range apiFailBurst {
				// Different guesses: one token repeated holds back only
				// itself (apiauth_test.go).
				path, guess := tc.path+strconv.Itoa(i), tc.guess
				if guess != "" {
					path, guess = tc.path, guess+strconv.Itoa(i)
				}
				if code, _ := fetch(t, base+path, guess); code != http.StatusUnauthorized {
					t.Fatalf("GET %s, guess %d: %d, want 401", tc.path, i+1, code)
				}
			}
			code, body := fetch(t, base+page, token)
			if code != http.StatusTooManyRequests || !strings.Contains(body, "too many failed tokens") {
				t.Errorf("GET %s with the right token after %d guesses: %d %.80q, want 429", page, apiFailBurst, code, body)
			}
		})
	}
}

// TestAPIWithoutTokensSaysSo: an API with no token configured names the
// keys to set instead of calling the caller's token wrong.
func TestAPIWithoutTokensSaysSo(t *testing.T) {
	t.Parallel()
	ts := startServer(t, newFakeBackend(t, map[string]int{"web": 1}), configs.Web{}, nil)
	req, _ := http.NewRequest("POST", ts.url+apiPrefix+"status", strings.NewReader("{}"))
	req.Header.Set("Authorization", "Bearer 0123456789abcdef0123")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), "no API tokens: set web.api_tokens") {
		t.Errorf("API without tokens: %d %s, want 401 naming web.api_tokens", resp.StatusCode, body)
	}
}
