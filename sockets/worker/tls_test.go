package worker

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"
)

// hang bounds the waits that only catch a hang: the drains below end in
// about a second, and what they used to wait for was a minute.
const hang = 20 * time.Second

// testCert returns a loopback certificate (httptest's).
func testCert(t *testing.T) []tls.Certificate {
	t.Helper()
	ts := httptest.NewUnstartedServer(http.NotFoundHandler())
	ts.StartTLS()
	defer ts.Close()
	return ts.TLS.Certificates
}

// served is a server run by Serve or ServeTLS on a loopback listener.
type served struct {
	addr   string
	srv    *http.Server
	cancel context.CancelFunc
	done   chan error
}

// serveTLS serves h by ServeTLS ("ServeTLS"), by Serve on tls.NewListener
// ("tls.NewListener") or by Serve without TLS ("plain"). The server waits
// up to a minute for a header or an idle connection: a drain that waits
// on one is seen.
func serveTLS(t *testing.T, how string, h http.Handler, protos *http.Protocols) *served {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &served{addr: l.Addr().String(), done: make(chan error, 1),
		srv: &http.Server{Handler: h, ReadHeaderTimeout: time.Minute, IdleTimeout: time.Minute, Protocols: protos}}
	var ctx context.Context
	ctx, s.cancel = context.WithCancel(context.Background())
	cfg := &tls.Config{Certificates: testCert(t)}
	switch how {
	case "ServeTLS":
		s.srv.TLSConfig = cfg
		go func() { s.done <- ServeTLS(ctx, s.srv, l, "", "") }()
	case "tls.NewListener":
		cfg.NextProtos = []string{"h2", "http/1.1"}
		go func() { s.done <- Serve(ctx, s.srv, tls.NewListener(l, cfg)) }()
	default:
		go func() { s.done <- Serve(ctx, s.srv, l) }()
	}
	t.Cleanup(func() { s.cancel(); s.srv.Close() })
	return s
}

// drained cancels s's context and waits for Serve to return nil.
func (s *served) drained(t *testing.T) {
	t.Helper()
	s.cancel()
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(hang):
		t.Fatalf("Serve still draining %v after its context ended", hang)
	}
}

// TestServeTLSSpeaksHTTP2AndFillsRequestTLS: Serve wrapped each
// connection in its own type, so that net/http did not see the *tls.Conn
// of a TLS listener: it answered HTTP/1.1 to a client that had
// negotiated h2 (every request failed: "frame too large") and handlers
// saw r.TLS == nil. ServeTLS, and Serve on tls.NewListener, keep both.
func TestServeTLSSpeaksHTTP2AndFillsRequestTLS(t *testing.T) {
	for _, how := range []string{"ServeTLS", "tls.NewListener"} {
		for _, h2 := range []bool{true, false} {
			want := map[bool]string{true: "tls=true proto=HTTP/2.0", false: "tls=true proto=HTTP/1.1"}[h2]
			t.Run(fmt.Sprintf("%s/h2=%v", how, h2), func(t *testing.T) {
				s := serveTLS(t, how, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					fmt.Fprintf(w, "tls=%v proto=%s", r.TLS != nil, r.Proto)
				}), nil)
				tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: h2}
				defer tr.CloseIdleConnections()
				resp, err := (&http.Client{Transport: tr, Timeout: hang}).Get("https://" + s.addr + "/")
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(b) != want {
					t.Errorf("handler saw %q, want %q", b, want)
				}
				tr.CloseIdleConnections()
				s.drained(t)
			})
		}
	}
}

// TestServeTLSDrainClosesIdleConnections: under TLS every connection
// read the bytes of a handshake, and the drain's "nothing came" could
// never hold: a client's spare connection, handshaken or not, held the
// worker for ReadHeaderTimeout (a minute here). ServeTLS closes both, and
// answers the request in flight; so does Serve on a listener's own TLS
// (tls.NewListener), by the kernel's time of the last data that came.
func TestServeTLSDrainClosesIdleConnections(t *testing.T) {
	for _, how := range []string{"ServeTLS", "tls.NewListener"} {
		t.Run(how, func(t *testing.T) { drainClosesIdleTLS(t, how) })
	}
}

func drainClosesIdleTLS(t *testing.T, how string) {
	inHandler, release := make(chan struct{}), make(chan struct{})
	s := serveTLS(t, how, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(inHandler)
		<-release
		io.WriteString(w, "answered")
	}), nil)
	bare, err := net.Dial("tcp", s.addr) // no ClientHello
	if err != nil {
		t.Fatal(err)
	}
	defer bare.Close()
	shook, err := tls.Dial("tcp", s.addr, &tls.Config{InsecureSkipVerify: true}) // handshake, no request
	if err != nil {
		t.Fatal(err)
	}
	defer shook.Close()
	busy, err := tls.Dial("tcp", s.addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	if _, err := io.WriteString(busy, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	<-inHandler
	s.cancel()
	for name, c := range map[string]net.Conn{"no handshake": bare, "handshaken": shook} {
		_ = c.SetReadDeadline(time.Now().Add(hang))
		if _, err := c.Read(make([]byte, 1)); errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("%s idle connection still open %v into the drain", name, hang)
		}
	}
	close(release)
	resp, err := http.ReadResponse(bufio.NewReader(busy), nil)
	if err != nil {
		t.Fatalf("request in flight at the drain: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "answered" {
		t.Errorf("request in flight answered %q", b)
	}
	s.drained(t)
}

// TestServeSendsHTTP2GoAway: an idle HTTP/2 connection, over TLS or
// without (h2c), got no GOAWAY: "Connection: close" reaches only a
// connection that gets a request, so the drain waited for the idle one
// until IdleTimeout (a minute here; forever without one). Now every HTTP/2
// client is told to go once no HTTP/1 connection is open, and leaves.
func TestServeSendsHTTP2GoAway(t *testing.T) {
	for _, how := range []string{"ServeTLS", "h2c"} {
		t.Run(how, func(t *testing.T) {
			protos := new(http.Protocols)
			protos.SetHTTP1(true)
			protos.SetHTTP2(true)
			protos.SetUnencryptedHTTP2(true)
			s := serveTLS(t, how, http.NotFoundHandler(), protos)
			c, err := net.Dial("tcp", s.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if how == "ServeTLS" {
				tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
				if err := tc.Handshake(); err != nil {
					t.Fatal(err)
				}
				if p := tc.ConnectionState().NegotiatedProtocol; p != "h2" {
					t.Fatalf("ALPN chose %q, want h2", p)
				}
				c = tc
			}
			frames := h2Client(t, c)
			if f := <-frames; f != frameSettings {
				t.Fatalf("server's first frame has type %d, want SETTINGS", f)
			}
			s.cancel()
			for f := range frames {
				if f == frameGoAway {
					c.Close()
					s.drained(t)
					return
				}
			}
			t.Errorf("the connection ended (or stayed silent %v) with no GOAWAY", hang)
		})
	}
}

const (
	frameSettings = 4
	frameGoAway   = 7
)

// h2Client begins HTTP/2 on c (preface, empty SETTINGS) and returns the
// types of the frames the server sends, until c ends or is silent for
// hang.
func h2Client(t *testing.T, c net.Conn) <-chan byte {
	t.Helper()
	if _, err := io.WriteString(c, h2cPreface+"\x00\x00\x00\x04\x00\x00\x00\x00\x00"); err != nil {
		t.Fatal(err)
	}
	frames := make(chan byte, 16)
	go func() {
		defer close(frames)
		var head [9]byte
		for {
			_ = c.SetReadDeadline(time.Now().Add(hang))
			if _, err := io.ReadFull(c, head[:]); err != nil {
				return
			}
			n := int(binary.BigEndian.Uint32(head[:4]) >> 8)
			if _, err := io.CopyN(io.Discard, c, int64(n)); err != nil {
				return
			}
			frames <- head[3]
		}
	}()
	return frames
}
