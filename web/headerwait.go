package web

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/poold/poold/arbiter"
)

// net/http closes a connection whose request headers miss ReadHeaderTimeout
// without a word. The README promises 408, so the console's listener hands
// out connections that answer it themselves: when a read times out while a
// request's headers are arriving (some of them came, no handler runs yet),
// the connection writes a 408 before net/http closes it. A connection that
// sent nothing, or that waits between keep-alive requests, is closed
// silently as before.

// connPhase is where a connection is in its request cycle.
type connPhase int

const (
	phaseHeaders connPhase = iota // waiting for a request's headers
	phaseHandler                  // a handler runs (or a websocket is open)
	phaseAfter                    // the handler ended; net/http finishes the request
)

// headerListener wraps the console's listener (above TLS, so the 408
// goes out encrypted).
type headerListener struct {
	net.Listener
	wait time.Duration // the headers' deadline, for the reply's text
	log  hclog.Logger
}

func (l *headerListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	hc := &headerConn{Conn: c, wait: l.wait, log: l.log}
	if _, ok := c.(*tls.Conn); ok {
		return tlsHeaderConn{hc}, nil
	}
	return hc, nil
}

// headerConn is one connection of the console's listener.
type headerConn struct {
	net.Conn
	wait time.Duration
	log  hclog.Logger

	mu       sync.Mutex
	phase    connPhase
	partial  bool // some of a request's headers arrived
	answered bool // the 408 went out
}

func (c *headerConn) headerConn() *headerConn { return c }

func (c *headerConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	if n > 0 && c.phase == phaseHeaders {
		c.partial = true
	}
	late := err != nil && errors.Is(err, os.ErrDeadlineExceeded) && c.phase == phaseHeaders && c.partial && !c.answered
	if late {
		c.answered = true
	}
	c.mu.Unlock()
	if late {
		c.answerLate()
	}
	return n, err
}

// answerLate writes the 408 for headers that did not arrive in time.
func (c *headerConn) answerLate() {
	c.log.Warn("request refused: its headers did not arrive in time", "remote", c.RemoteAddr().String(), "wait", c.wait)
	body, _ := json.Marshal(arbiter.Fail("", &arbiter.CommandError{Errno: arbiter.ErrnoBadJSON,
		Reason: fmt.Sprintf("the request headers did not arrive within %v; send each request whole, at once", c.wait)}))
	c.Conn.SetWriteDeadline(time.Now().Add(time.Second))
	fmt.Fprintf(c.Conn, "HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
}

// CloseWrite keeps net/http's half-close before it closes a connection
// (so a 413 is read, not reset).
func (c *headerConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (c *headerConn) setPhase(p connPhase) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.phase = p
	if p == phaseHeaders {
		c.partial = false
	}
}

// tlsHeaderConn is a headerConn over TLS. net/http fills Request.TLS from
// ConnectionState when the connection is not a *tls.Conn; like net/http
// for a *tls.Conn, it completes the handshake first, within the headers'
// deadline.
type tlsHeaderConn struct{ *headerConn }

func (c tlsHeaderConn) ConnectionState() tls.ConnectionState {
	tc := c.Conn.(*tls.Conn)
	ctx, cancel := context.WithTimeout(context.Background(), c.wait)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		c.log.Debug("TLS handshake failed", "remote", c.RemoteAddr().String(), "error", err)
		// As net/http does for a *tls.Conn: a client that spoke plain
		// HTTP to this port is told so in plain HTTP.
		var re tls.RecordHeaderError
		if errors.As(err, &re) && re.Conn != nil && looksLikeHTTP(re.RecordHeader) {
			re.Conn.SetWriteDeadline(time.Now().Add(time.Second))
			io.WriteString(re.Conn, "HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain\r\n\r\nThis is poold's console over TLS: an HTTP request came to an HTTPS server; use https://.\n")
			re.Conn.Close()
		}
	}
	return tc.ConnectionState()
}

// looksLikeHTTP reports whether the first five bytes of a connection are
// the start of a plain HTTP request.
func looksLikeHTTP(hdr [5]byte) bool {
	for _, m := range []string{"GET /", "HEAD ", "POST ", "PUT /", "DELET", "OPTIO", "PATCH"} {
		if string(hdr[:]) == m {
			return true
		}
	}
	return false
}

type headerConnKey struct{}

// connContext records the connection on its requests' context.
func connContext(ctx context.Context, c net.Conn) context.Context {
	if hc, ok := c.(interface{ headerConn() *headerConn }); ok {
		return context.WithValue(ctx, headerConnKey{}, hc.headerConn())
	}
	return ctx
}

// connState starts a new header phase when a connection waits for its
// next request.
func connState(c net.Conn, st http.ConnState) {
	if hc, ok := c.(interface{ headerConn() *headerConn }); ok && st == http.StateIdle {
		hc.headerConn().setPhase(phaseHeaders)
	}
}

// markHandler tells each request's connection that its headers are in
// while next runs.
func markHandler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hc, ok := r.Context().Value(headerConnKey{}).(*headerConn); ok {
			hc.setPhase(phaseHandler)
			defer hc.setPhase(phaseAfter)
		}
		next.ServeHTTP(w, r)
	})
}
