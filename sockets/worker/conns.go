package worker

import (
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// proto is what a connection speaks, known once it is active.
type proto int

const (
	protoUnknown proto = iota // no request read yet (or a TLS handshake)
	protoHTTP1
	protoHTTP2
	protoHijacked // taken from net/http (Hijack): open until its owner closes it
)

// openConns follows the server's connections (http.Server.ConnState).
type openConns struct {
	mu      sync.Mutex
	open    map[net.Conn]proto     // accepted and not yet closed
	silent  map[net.Conn]time.Time // accepted, no request read yet: when
	changed chan struct{}          // a connection closed or became known
}

func newOpenConns() *openConns {
	return &openConns{open: map[net.Conn]proto{}, silent: map[net.Conn]time.Time{}, changed: make(chan struct{}, 1)}
}

// track notes c's new state. An HTTP/2 connection's StateNew and
// StateClosed come from net/http, its StateActive and StateIdle from its
// HTTP/2 server, with the same net.Conn.
func (o *openConns) track(c net.Conn, s http.ConnState) {
	o.mu.Lock()
	defer o.mu.Unlock()
	switch s {
	case http.StateNew:
		o.open[c] = protoUnknown
		o.silent[c] = time.Now()
	case http.StateActive, http.StateIdle:
		delete(o.silent, c)
		if p, ok := o.open[c]; ok && p == protoUnknown {
			o.open[c] = protoOf(c)
			o.note()
		}
	case http.StateHijacked:
		// x/net's h2c handler serves HTTP/2 on it, or a WebSocket
		// library does: it is not closed, net/http just no longer sees it.
		delete(o.silent, c)
		o.open[c] = protoHijacked
		o.note()
	case http.StateClosed:
		delete(o.silent, c)
		delete(o.open, c)
		o.note()
	}
}

// reapHijacked forgets the hijacked connections their owner has closed
// (net/http tells nothing of them once hijacked).
func (o *openConns) reapHijacked() {
	o.mu.Lock()
	defer o.mu.Unlock()
	for c, p := range o.open {
		if p == protoHijacked && closed(c) {
			delete(o.open, c)
		}
	}
}

func (o *openConns) note() {
	select {
	case o.changed <- struct{}{}:
	default:
	}
}

// count returns how many connections are open, and how many of them
// may still read an HTTP/1 request: all but the HTTP/2 and hijacked ones.
func (o *openConns) count() (open, http1 int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, p := range o.open {
		if p == protoUnknown || p == protoHTTP1 {
			http1++
		}
	}
	return len(o.open), http1
}

// closed reports whether c (or the connection under its TLS) was closed.
func closed(c net.Conn) bool {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return errors.Is(err, net.ErrClosed)
	}
	return errors.Is(rc.Control(func(uintptr) {}), net.ErrClosed)
}

// protoOf tells an active connection's protocol: HTTP/2 over TLS by its
// ALPN (the handshake is over once net/http or its HTTP/2 server calls it
// active), HTTP/2 without TLS (h2c) by its first bytes.
func protoOf(c net.Conn) proto {
	switch c := c.(type) {
	case *tls.Conn:
		if c.ConnectionState().NegotiatedProtocol == "h2" {
			return protoHTTP2
		}
	case *servedConn:
		if c.h2c.Load() {
			return protoHTTP2
		}
	}
	return protoHTTP1
}

// closeSilent closes the connections accepted at least d ago on which
// nothing has come (their StateClosed follows). One on which a byte has
// come is left to the server, even before its whole header has: net/http
// reads a header piece by piece as the client sends it, and only calls
// the connection active once it has all of it. A TLS connection counts
// the bytes that come after its handshake (quietTLS).
func (o *openConns) closeSilent(d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for c, since := range o.silent {
		if time.Since(since) >= d && quiet(c) {
			c.Close()
			delete(o.silent, c)
		}
	}
}

// heardListener accepts connections that note when their first byte
// comes (heardConn), so that the drain can tell a connection that has
// sent nothing from one whose request is partly read.
type heardListener struct{ net.Listener }

func (l heardListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &heardConn{Conn: c}, nil
}

// heardConn is an accepted connection that notes, before its first byte
// is read, that one has come.
type heardConn struct {
	net.Conn
	heard atomic.Bool // set before the first byte is taken from the kernel
}

// Read marks c heard once something (or its end) has come, then reads.
// The mark comes first: until it is set, whatever came is still in the
// kernel's queue, where the drain sees it (unread).
func (c *heardConn) Read(b []byte) (int, error) {
	if !c.heard.Load() && readable(c.Conn) {
		c.heard.Store(true)
	}
	return c.Conn.Read(b)
}

// CloseWrite keeps net/http's half close before its last close (it
// avoids a reset that would cut the last answer).
func (c *heardConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

// SyscallConn lets unread look at the socket.
func (c *heardConn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.ErrUnsupported
	}
	return sc.SyscallConn()
}

// sentNothing reports whether nothing has come on c: nothing was read
// from it, and nothing waits in the kernel to be. The queue is looked at
// first: a byte taken from it since was marked heard before.
func sentNothing(c net.Conn) bool {
	hc, ok := c.(*heardConn)
	return ok && !unread(hc) && !hc.heard.Load()
}

// readable waits, taking nothing, until c has something to read, its end,
// or an error (false: it could not wait, its read deadline passed, or the
// connection was closed).
func readable(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	var peek [1]byte
	return rc.Read(func(fd uintptr) bool {
		_, _, err := syscall.Recvfrom(int(fd), peek[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return err != syscall.EAGAIN
	}) == nil
}

// unread reports whether bytes have come on c that nobody has read yet
// (true when it cannot tell).
func unread(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	n, ierr := 0, error(nil)
	if err := rc.Control(func(fd uintptr) { n, ierr = queued(fd) }); err != nil || ierr != nil {
		return true
	}
	return n > 0
}
