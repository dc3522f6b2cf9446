package web

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/poold/poold/configs"
)

// TestSlowHeadersGet408: headers that do not arrive in time get the
// README's 408 with a reason, over plain HTTP and over TLS, while a
// connection that sends nothing is closed without a reply and a request
// that arrives in time is served over the same listener (knowing its TLS).
func TestSlowHeadersGet408(t *testing.T) {
	const wait = 300 * time.Millisecond
	cert, _ := selfSigned(t)
	for _, useTLS := range []bool{false, true} {
		name := "http"
		if useTLS {
			name = "https"
		}
		t.Run(name, func(t *testing.T) {
			addr := serveHeaderWait(t, wait, useTLS, cert)
			dial := func() net.Conn {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				if useTLS {
					c = tls.Client(c, &tls.Config{InsecureSkipVerify: true})
				}
				t.Cleanup(func() { c.Close() })
				c.SetDeadline(time.Now().Add(10 * time.Second)) // catches a hang only
				return c
			}

			c := dial()
			io.WriteString(c, "POST /api/v1/status HTTP/1.1\r\nHost: "+addr+"\r\n")
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatalf("slow headers: no reply: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(body), "the request headers did not arrive within 300ms") {
				t.Errorf("slow headers: %d %s, want 408 saying the headers did not arrive within 300ms", resp.StatusCode, body)
			}

			c = dial()
			if useTLS {
				if err := c.(*tls.Conn).Handshake(); err != nil {
					t.Fatal(err)
				}
			}
			if b, err := io.ReadAll(c); len(b) != 0 {
				t.Errorf("a connection that sent nothing got %q (%v), want it closed without a reply", b, err)
			}

			// The console knows the request came over TLS (Request.TLS):
			// its sign-in hint names the scheme.
			c = dial()
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: "+addr+"\r\n\r\n")
			resp, err = http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatalf("a request in time: %v", err)
			}
			body, _ = io.ReadAll(resp.Body)
			if want := name + "://" + addr + "/?token="; resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), want) {
				t.Errorf("a request in time without the token: %d %s, want 401 naming %s", resp.StatusCode, body, want)
			}
		})
	}
}

// serveHeaderWait serves a console whose headers must arrive within wait.
func serveHeaderWait(t *testing.T, wait time.Duration, useTLS bool, cert tls.Certificate) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fake := newFakeBackend(t, map[string]int{"web": 1})
	opts := Options{Config: configs.Web{Enabled: true, Address: l.Addr().String(), Token: "0123456789abcdef"}, Backend: fake,
		Log: hclog.New(&hclog.LoggerOptions{Name: "web", Level: hclog.Error, Output: testWriter{t}})}
	if useTLS {
		opts.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	s.tunings.headerWait = wait
	serve(t, s, l)
	return l.Addr().String()
}

// TestPlainHTTPToTLSGets400: a plain HTTP request to the console's TLS
// port gets net/http's 400 ("an HTTP request to an HTTPS server"), which
// the connection wrapper of the 408 had turned into a bare close.
func TestPlainHTTPToTLSGets400(t *testing.T) {
	cert, _ := selfSigned(t)
	addr := serveHeaderWait(t, 5*time.Second, true, cert)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second)) // catches a hang only
	io.WriteString(c, "POST /api/v1/incr HTTP/1.1\r\nHost: "+addr+"\r\nContent-Length: 2\r\n\r\n{}")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("plain HTTP to the TLS port: no reply: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "HTTPS") {
		t.Errorf("plain HTTP to the TLS port: %d %q, want 400 saying the server speaks HTTPS", resp.StatusCode, body)
	}
}
