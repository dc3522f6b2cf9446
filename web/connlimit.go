package web

import (
	"net"
	"sync"
	"syscall"
)

// Connections to poold's HTTP listeners (the console and API, metrics and
// health) are bounded: anyone who can reach the port may open them, each
// is held until its request header times out, and every one is a file
// descriptor that poold also needs for its workers' sockets, pipes and
// pidfds. Past the bound a new connection is closed at once, and a line
// says so once a minute.

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

// capListener accepts at most cap(slots) connections open at once.
type capListener struct {
	net.Listener
	slots   chan struct{}
	refused func(remote string, limit int)
}

// limitConns bounds l to n open connections; refused hears of each one
// closed for it.
func limitConns(l net.Listener, n int, refused func(remote string, limit int)) net.Listener {
	return &capListener{Listener: l, slots: make(chan struct{}, n), refused: refused}
}

func (l *capListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
			return &capConn{Conn: c, release: sync.OnceFunc(func() { <-l.slots })}, nil
		default:
			l.refused(c.RemoteAddr().String(), cap(l.slots))
			_ = c.Close()
		}
	}
}

// capConn gives its slot back when closed, also once hijacked (a
// websocket), since the hijacker closes this same connection.
type capConn struct {
	net.Conn
	release func()
}

func (c *capConn) Close() error {
	err := c.Conn.Close()
	c.release()
	return err
}

// refuseLog logs connections closed for the bound, once a minute for
// all addresses together: a flood comes from many.
func refuseLog(q *quietLog, listener string) func(remote string, limit int) {
	return func(remote string, limit int) {
		q.Warn("any", "connection refused: too many open connections to the "+listener+"; the rest are refused until some close (the bound is a quarter of poold's open-file limit, ulimit -n)",
			"remote", remote, "limit", limit)
	}
}
