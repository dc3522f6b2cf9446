package web

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/proctest"
	"github.com/poold/poold/watcher/workertest"
)

// TestRefusalsAreLoggedOnce: anyone who can reach the console's port
// could write one log line per request: a wrong Host header, a token in
// the query string, a connection that is not TLS (a port scanner, a load
// balancer's TCP health check). Each kind is now logged once per client
// address per minute, and the next line says how many were suppressed.
func TestRefusalsAreLoggedOnce(t *testing.T) {
	t.Parallel()
	cert, certPEM := selfSigned(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := &workertest.Buffer{}
	s, err := New(Options{Config: configs.Web{Enabled: true, Address: l.Addr().String(), Token: "console-token-0123456789"},
		Backend: newFakeBackend(t, map[string]int{"web": 1}), TLS: &tls.Config{Certificates: []tls.Certificate{cert}},
		Log: hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Info})})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	now := time.Unix(1000, 0)
	s.quiet.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	runServer(t, s, l)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(certPEM))
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer hc.CloseIdleConnections()
	base := "https://" + l.Addr().String()
	send := func(path, host string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		req.Host = host
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	notTLS := func() {
		t.Helper()
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	const n = 30
	kinds := []struct {
		msg  string
		send func()
	}{
		{"request refused: unexpected host header", func() { send("/", "evil.example") }},
		{"api request refused: token in the query string", func() { send("/api/v1/status?token=x", l.Addr().String()) }},
		{"tls handshake failed", notTLS},
	}
	// Every repeat counted (the handshake errors are logged as their
	// connections end, after the dial returns).
	counted := func(msg string, want int) bool {
		s.quiet.mu.Lock()
		defer s.quiet.mu.Unlock()
		e := s.quiet.m[msg+"\x00127.0.0.1"]
		return e != nil && e.suppressed == want
	}
	for _, k := range kinds {
		for range n {
			k.send()
		}
		if !proctest.Poll(10*time.Second, func() bool { return counted(k.msg, n-1) }) {
			t.Fatalf("%q: %d sent, repeats not all counted; log:\n%s", k.msg, n, logs.String())
		}
		if got := strings.Count(logs.String(), k.msg); got != 1 {
			t.Errorf("%q logged %d times for %d refusals, want once; log:\n%s", k.msg, got, n, logs.String())
		}
	}
	mu.Lock()
	now = now.Add(quietEvery)
	mu.Unlock()
	for _, k := range kinds {
		k.send()
		if !proctest.Poll(10*time.Second, func() bool { return strings.Count(logs.String(), k.msg) == 2 }) {
			t.Fatalf("%q not logged again a window later; log:\n%s", k.msg, logs.String())
		}
	}
	if got := strings.Count(logs.String(), "suppressed=29"); got != len(kinds) {
		t.Errorf("%d lines say suppressed=29, want %d; log:\n%s", got, len(kinds), logs.String())
	}
}

// TestRoleRefusalsAreEachLogged: a write refused for a read-only token is
// logged every time, naming the token: only a holder of a valid token can
// cause it, and an audit needs each refused command and whose token it
// was. They were logged once a minute per address, like refusals anyone
// can cause, so a refused quit right after a refused incr left no line.
func TestRoleRefusalsAreEachLogged(t *testing.T) {
	t.Parallel()
	const ro = "fedcba9876543210fedc"
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := &workertest.Buffer{}
	s, err := New(Options{Config: configs.Web{Enabled: true, Address: l.Addr().String(), Tokens: []configs.APIToken{
		{Role: configs.RoleReadOnly, File: "ro.token", Token: ro}}},
		Backend: newFakeBackend(t, map[string]int{"web": 1}), Log: hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Info})})
	if err != nil {
		t.Fatal(err)
	}
	runServer(t, s, l)
	for _, command := range []string{"incr", "quit"} {
		if code, _ := apiPost(t, "http://"+l.Addr().String(), command, ro, `{"name": "web"}`); code != http.StatusForbidden {
			t.Fatalf("POST %s with a read-only token: %d, want 403", command, code)
		}
	}
	for _, command := range []string{"incr", "quit"} {
		if want := "api command refused: role: command=" + command + " role=read-only token=ro.token"; !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
}
