package web

import (
	"context"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"
)

// Connections to poold's HTTP listeners (the console and API, metrics and
// health) are bounded: anyone who can reach the port may open them, each
// is held until its request header times out, and every one is a file
// descriptor that poold also needs for its workers' sockets, pipes and
// pidfds. At the bound a newcomer is not refused: the connection that has
// waited longest for a request (a silent one, a slow header, an idle
// keep-alive) is closed to make room, so a flood of idle connections
// cannot lock out a liveness probe or an operator. Only when every
// connection is serving a request (a handler runs: an API call, an event
// stream, a console's websocket) is the newcomer closed, with a line a
// minute.

// connCap is the bound for a listener: a quarter of poold's file
// descriptor limit (RLIMIT_NOFILE), at least 64 and at most 4096, which
// is more consoles, fleet views, scrapers and probes than any host has.
func connCap() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 1024
	}
	return int(min(max(rl.Cur/4, 64), 4096))
}

// capListener holds at most limit connections open at once.
type capListener struct {
	net.Listener
	limit   int
	refused func(remote string, limit int)

	mu   sync.Mutex
	open map[*capConn]struct{}
}

// boundConns bounds hs, which serves on l (before any TLS), to limit open
// connections, and returns the listener to serve on. It sets hs's
// ConnContext and wraps its Handler, to know which connections serve a
// request; refused hears of each newcomer closed for the bound.
func boundConns(hs *http.Server, l net.Listener, limit int, refused func(remote string, limit int)) net.Listener {
	cl := &capListener{Listener: l, limit: limit, refused: refused, open: map[*capConn]struct{}{}}
	hs.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		if t, ok := c.(interface{ NetConn() net.Conn }); ok { // TLS
			c = t.NetConn()
		}
		if cc, ok := c.(*capConn); ok {
			return context.WithValue(ctx, capConnKey{}, cc)
		}
		return ctx
	}
	next := hs.Handler
	hs.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if cc, ok := r.Context().Value(capConnKey{}).(*capConn); ok {
			cc.serving(true)
			defer cc.serving(false)
		}
		next.ServeHTTP(w, r)
	})
	return cl
}

type capConnKey struct{}

func (l *capListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if cc, ok := l.admit(c); ok {
			return cc, nil
		}
		l.refused(c.RemoteAddr().String(), l.limit)
		_ = c.Close()
	}
}

// admit takes c in, closing the connection that has waited longest for a
// request if the listener is full; false if every one serves a request.
func (l *capListener) admit(c net.Conn) (*capConn, bool) {
	l.mu.Lock()
	var victim *capConn
	if len(l.open) >= l.limit {
		for o := range l.open {
			if o.busy == 0 && (victim == nil || o.waiting.Before(victim.waiting)) {
				victim = o
			}
		}
		if victim == nil {
			l.mu.Unlock()
			return nil, false
		}
		delete(l.open, victim)
	}
	cc := &capConn{Conn: c, l: l, waiting: time.Now()}
	l.open[cc] = struct{}{}
	l.mu.Unlock()
	if victim != nil {
		_ = victim.Conn.Close() // its server goroutine sees the error and ends
	}
	return cc, true
}

// capConn is a connection of a capListener; it leaves the listener's set
// when closed, also once hijacked (a websocket), since the hijacker
// closes this same connection.
type capConn struct {
	net.Conn
	l *capListener
	// Under l.mu:
	busy    int       // requests being served (one, but for a hijack's overlap)
	waiting time.Time // since when it waits for a request
}

func (c *capConn) serving(on bool) {
	c.l.mu.Lock()
	defer c.l.mu.Unlock()
	if on {
		c.busy++
	} else {
		c.busy--
		c.waiting = time.Now()
	}
}

func (c *capConn) Close() error {
	c.l.mu.Lock()
	delete(c.l.open, c)
	c.l.mu.Unlock()
	return c.Conn.Close()
}

// refuseLog logs newcomers closed for the bound, once a minute for all
// addresses together: a flood comes from many.
func refuseLog(q *quietLog, listener string) func(remote string, limit int) {
	return func(remote string, limit int) {
		q.Warn("any", "connection refused: every connection to the "+listener+" is serving a request; the rest are refused until some end (the bound is a quarter of poold's open-file limit, ulimit -n)",
			"remote", remote, "limit", limit)
	}
}
