package worker

import (
	"bytes"
	"crypto/tls"
	"net"
	"sync/atomic"
	"syscall"
	"time"
)

// servedListener accepts the connections Serve and ServeTLS hand to
// net/http: each as a servedConn, but a *tls.Conn, from a listener the
// caller wrapped in TLS itself, as it is: net/http speaks HTTP/2 and fills
// Request.TLS only on a *tls.Conn.
type servedListener struct {
	net.Listener
	tls bool // ServeTLS's: net/http runs TLS over the connections
}

func (l servedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if _, ok := c.(*tls.Conn); ok {
		return c, nil
	}
	return &servedConn{heardConn: &heardConn{Conn: c}, tls: l.tls}, nil
}

// h2cPreface is how an HTTP/2 client without TLS begins.
const h2cPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// servedConn is an accepted connection as the drain follows it. Without
// TLS it is a heardConn that also notes whether it began with h2cPreface.
// Under TLS (ServeTLS), the handshake's bytes make every connection heard:
// it notes instead since when TLS has waited for bytes that have not
// come, and whether a record is partly in.
type servedConn struct {
	*heardConn
	tls bool

	first []byte      // without TLS, Read's own: up to len(h2cPreface) bytes
	h2c   atomic.Bool // it began with h2cPreface

	rec     records      // under TLS, Read's own
	partly  atomic.Bool  // a record is partly in
	waiting atomic.Int64 // since when (UnixNano) Read waits for bytes; 0: it does not
}

func (c *servedConn) Read(b []byte) (int, error) {
	if !c.tls {
		n, err := c.heardConn.Read(b)
		if len(c.first) < len(h2cPreface) {
			c.first = append(c.first, b[:min(n, len(h2cPreface)-len(c.first))]...)
			c.h2c.Store(bytes.Equal(c.first, []byte(h2cPreface)))
		}
		return n, err
	}
	c.waiting.Store(time.Now().UnixNano())
	if readable(c.Conn) {
		c.heard.Store(true)
	}
	c.waiting.Store(0)
	n, err := c.Conn.Read(b)
	c.rec.feed(b[:n])
	c.partly.Store(c.rec.partly())
	return n, err
}

// quiet reports whether c can be closed as a connection that has no
// request in flight; net/http has read none on it yet.
func quiet(c net.Conn) bool {
	switch c := c.(type) {
	case *heardConn:
		return sentNothing(c)
	case *servedConn:
		if !c.tls {
			return sentNothing(c.heardConn)
		}
		return quietTLS(c)
	case *tls.Conn:
		if sc, ok := c.NetConn().(*servedConn); ok {
			return quietTLS(sc)
		}
		return quietBelow(c.NetConn())
	}
	return false
}

// quietBelow reports whether the connection under a listener's own TLS
// (tls.NewListener: the drain does not see what TLS reads) has had no
// data for the drain's window, and none waits unread in the kernel: a
// client that never began its handshake, or whose handshake is over and
// that sends no request. Unlike quietTLS it cannot tell a server that is
// itself busy for that long in the handshake (a very loaded machine).
func quietBelow(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok || unread(c) {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	var since time.Duration
	var serr error
	if err := rc.Control(func(fd uintptr) { since, serr = sinceData(fd) }); err != nil || serr != nil {
		return false
	}
	return since >= window
}

// quietTLS reports whether TLS, on c, has waited for the client for the
// drain's window, with no record partly in and nothing unread in the
// kernel: a handshaken connection that sends no request (a browser's
// preconnect, a spare connection), or a client that never began its
// handshake. One whose client sends, or which TLS or net/http is busy
// with (not waiting in Read), is left to the server.
func quietTLS(c *servedConn) bool {
	if unread(c.heardConn) || c.partly.Load() {
		return false
	}
	since := c.waiting.Load()
	return since != 0 && time.Since(time.Unix(0, since)) >= window
}

// records follows the TLS records that come on a connection, to tell
// whether one is partly in: its 5-byte header ends with the length of
// its body.
type records struct {
	head [5]byte
	n    int // bytes of head in
	left int // bytes of the body still to come
}

func (r *records) feed(b []byte) {
	for len(b) > 0 {
		if r.left > 0 {
			k := min(r.left, len(b))
			r.left -= k
			b = b[k:]
			continue
		}
		k := copy(r.head[r.n:], b)
		r.n += k
		b = b[k:]
		if r.n == len(r.head) {
			r.left = int(r.head[3])<<8 | int(r.head[4])
			r.n = 0
		}
	}
}

func (r *records) partly() bool { return r.n > 0 || r.left > 0 }
