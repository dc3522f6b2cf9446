package main

import (
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/poold/poold/arbiter/controller"
)

// TestWrongKindOfEndpoint: poolctl pointed at poold's event endpoint or
// at a web server printed zmq4's chain of errors. It now says what
// answers there and which endpoint to use instead; still exit 3.
func TestWrongKindOfEndpoint(t *testing.T) {
	t.Parallel()
	p := startPoold(t)
	web := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(web.Close)
	tlsWeb := httptest.NewUnstartedServer(http.NotFoundHandler())
	tlsWeb.Config.ErrorLog = log.New(io.Discard, "", 0) // our greeting is no TLS handshake
	tlsWeb.StartTLS()
	t.Cleanup(tlsWeb.Close)
	banner := bannerServer(t, "SSH-2.0-OpenSSH_9.2\r\n")

	const use = "set --endpoint to poold's control endpoint, [arbiter] endpoint in its config"
	tests := []struct {
		name, endpoint string
		want           []string
	}{
		{"poold's event endpoint", p.pubsub, []string{"it is a ZeroMQ PUB socket, as poold's event (pubsub_endpoint) and stats (stats_endpoint) endpoints are", use}},
		{"an HTTP server", "tcp://" + web.Listener.Addr().String(), []string{"it answers HTTP, not ZeroMQ", use, "--url"}},
		{"an HTTPS server", "tcp://" + tlsWeb.Listener.Addr().String(), []string{"not a ZeroMQ endpoint (an HTTPS server?)", "--url https://"}},
		{"another protocol", "tcp://" + banner, []string{`it does not speak ZeroMQ (it sent "SSH-2.0-OpenSSH_9.2\r\n")`, use}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := poolctl(t, "--endpoint", tc.endpoint, "status")
			if r.code != exitUnreachable || !strings.HasPrefix(r.stderr, "poolctl: Cannot reach poold at "+tc.endpoint+" (") {
				t.Fatalf("want exit 3 naming the endpoint, got %v", r)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
			if strings.Contains(r.stderr, "zmq4") {
				t.Errorf("stderr shows ZeroMQ internals:\n%s", r.stderr)
			}
		})
	}
}

// bannerServer accepts on a loopback port and greets each connection with
// banner, as SSH or SMTP do, then reads until the client leaves.
func bannerServer(t *testing.T, banner string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Write([]byte(banner))
			go func() {
				defer c.Close()
				buf := make([]byte, 512)
				for {
					if _, err := c.Read(buf); err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() { l.Close(); <-done })
	return l.Addr().String()
}

// TestURLAtWrongKindOfServer: --url given poold's ZeroMQ control or event
// endpoint printed net/http's "malformed HTTP response" with the binary
// ZeroMQ greeting in it, and https:// at a console without TLS "Post ...:
// http: server gave HTTP response to HTTPS client". Each now says what
// answers there and what to use instead; still exit 3.
func TestURLAtWrongKindOfServer(t *testing.T) {
	t.Parallel()
	// poold's own control endpoint, which greets a client as it connects.
	ctx, cancel := context.WithCancel(context.Background())
	ctl := controller.New("tcp://127.0.0.1:0", func(context.Context, []byte) ([]byte, bool) { return nil, false }, hclog.NewNullLogger())
	errs := make(chan error, 1)
	go func() { errs <- ctl.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-errs; err != nil {
			t.Errorf("control endpoint: %v", err)
		}
	})
	select {
	case <-ctl.Ready():
	case err := <-errs:
		t.Fatalf("control endpoint: %v", err)
	}
	ctlAddr := strings.TrimPrefix(ctl.Endpoint(), "tcp://")
	web := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(web.Close)
	tok := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tok, []byte("0123456789abcdef0123"), 0o600); err != nil {
		t.Fatal(err)
	}
	const use = "set --url to poold's console, [web] address in its config"
	for _, tc := range []struct {
		name, url string
		want      []string
	}{
		{"control endpoint", "http://" + ctlAddr, []string{"it is a ZeroMQ ROUTER socket, as poold's control endpoint is, not its HTTP API", "use --endpoint tcp://" + ctlAddr, use}},
		{"https at plain http", "https://" + web.Listener.Addr().String(), []string{"it answers plain HTTP, not HTTPS: use http://"}},
		// Read as "does not speak TLS... use http://", which fails too.
		{"https at the control endpoint", "https://" + ctlAddr, []string{"it is a ZeroMQ ROUTER socket, as poold's control endpoint is, not its HTTP API"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := poolctl(t, "--url", tc.url, "--token-file", tok, "status")
			if r.code != exitUnreachable || !strings.HasPrefix(r.stderr, "poolctl: Cannot reach poold at "+tc.url+" (") {
				t.Fatalf("want exit 3 naming the URL, got %v", r)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
			for _, noise := range []string{`\x`, "malformed HTTP response", "Post \"", "server gave HTTP response"} {
				if strings.Contains(r.stderr, noise) {
					t.Errorf("stderr shows net/http's internals (%q):\n%s", noise, r.stderr)
				}
			}
		})
	}
}
