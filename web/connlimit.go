package web

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
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

// ConnBudget joins a listener, named name ("console"), to the bound on
// connections it shares with poold's other listeners
// (zmqguard.SharedBudget); shed closes one of the listener's connections
// to make room and reports whether it could.
type ConnBudget func(name string, shed func() bool) BudgetAccount

// BudgetAccount is a listener's account in its ConnBudget.
type BudgetAccount interface {
	Add()         // counts a connection
	Remove()      // uncounts one
	Settle() bool // sheds until within the budget; false: nobody could
	Leave()       // the listener is closed
}

// capListener holds at most limit connections open at once. An
// upgrade's hand-over pauses it (handover.go): it stops accepting, its fd
// kept open for the new image.
type capListener struct {
	net.Listener
	limit   int
	refused func(remote string, limit int)
	budget  BudgetAccount // nil: none

	// acceptMu is held from each accept of the listener beneath until
	// what it returned is admitted: pause waits for it, so no connection
	// is accepted and not yet counted once pause has returned.
	acceptMu sync.Mutex
	done     chan struct{} // closed by Close
	doneOnce sync.Once

	mu     sync.Mutex
	open   map[*capConn]struct{}
	paused chan struct{} // non-nil while paused; closed by resume
}

// boundConns bounds hs, which serves on l (before any TLS), to limit open
// connections, and returns the listener to serve on. It sets hs's
// ConnContext and wraps its Handler, to know which connections serve a
// request; refused hears of each newcomer closed for the bound.
func boundConns(hs *http.Server, l net.Listener, limit int, refused func(remote string, limit int), budget ConnBudget, name string) *capListener {
	cl := &capListener{Listener: l, limit: limit, refused: refused, done: make(chan struct{}), open: map[*capConn]struct{}{}}
	if budget != nil {
		cl.budget = budget(name, cl.shed)
	}
	hs.ConnState = func(c net.Conn, st http.ConnState) {
		if t, ok := c.(interface{ NetConn() net.Conn }); ok { // TLS
			c = t.NetConn()
		}
		if cc, ok := c.(*capConn); ok {
			cl.mu.Lock()
			cc.state = st
			cl.mu.Unlock()
		}
	}
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
		if err := l.waitResumed(); err != nil {
			return nil, err
		}
		c, err := l.acceptOne()
		if errors.Is(err, errPaused) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if c != nil {
			return c, nil
		}
	}
}

// errPaused: the listener was paused before or during an accept.
var errPaused = errors.New("paused")

// acceptOne accepts and admits one connection; nil, nil when it was
// closed for the bound.
func (l *capListener) acceptOne() (net.Conn, error) {
	l.acceptMu.Lock()
	defer l.acceptMu.Unlock()
	if l.isPaused() {
		return nil, errPaused
	}
	c, err := l.Listener.Accept()
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) && l.isPaused() {
			return nil, errPaused
		}
		return nil, err
	}
	if cc, ok := l.admit(c); ok {
		return cc, nil
	}
	l.refused(c.RemoteAddr().String(), l.limit)
	_ = c.Close()
	return nil, nil
}

// Close closes the listener beneath (its fd) and ends an accept that
// waits for a resume.
func (l *capListener) Close() error {
	l.doneOnce.Do(func() {
		close(l.done)
		if l.budget != nil {
			l.budget.Leave()
		}
	})
	return l.Listener.Close()
}

// pause stops accepting; the listener's fd stays open, and what connects
// waits in its backlog. Once it returns, every connection accepted is
// counted by inFlight.
func (l *capListener) pause() {
	l.mu.Lock()
	if l.paused == nil {
		l.paused = make(chan struct{})
	}
	l.mu.Unlock()
	// A deadline in the past ends an accept in flight; one that took a
	// connection meanwhile admits it before it lets acceptMu go.
	if d, ok := l.Listener.(interface{ SetDeadline(time.Time) error }); ok && d.SetDeadline(time.Unix(1, 0)) == nil {
		l.acceptMu.Lock()
		l.acceptMu.Unlock() // a barrier: no accept is in flight past it
	}
}

// resume undoes pause.
func (l *capListener) resume() {
	if d, ok := l.Listener.(interface{ SetDeadline(time.Time) error }); ok {
		_ = d.SetDeadline(time.Time{})
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.paused != nil {
		close(l.paused)
		l.paused = nil
	}
}

func (l *capListener) isPaused() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.paused != nil
}

// waitResumed returns once l is not paused, or net.ErrClosed once it is
// closed.
func (l *capListener) waitResumed() error {
	l.mu.Lock()
	p := l.paused
	l.mu.Unlock()
	if p == nil {
		return nil
	}
	select {
	case <-p:
		return nil
	case <-l.done:
		return net.ErrClosed
	}
}

// inFlight counts the connections being answered, those hijacked whose
// writer has not yet sent its close frame (websockets: after it, their
// close handshake goes on by itself, bounded), and those accepted after since that wait for their first
// request (a client that connected sends it at once; an older silent one
// is not waited for).
func (l *capListener) inFlight(since time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for c := range l.open {
		if c.state == http.StateActive || (c.state == http.StateHijacked && !c.closeSent) || (c.state == http.StateNew && c.waiting.After(since)) {
			n++
		}
	}
	return n
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
		l.dropLocked(victim)
	}
	cc := &capConn{Conn: c, l: l, waiting: time.Now()}
	l.open[cc] = struct{}{}
	if l.budget != nil {
		l.budget.Add()
	}
	l.mu.Unlock()
	if victim != nil {
		_ = victim.Conn.Close() // its server goroutine sees the error and ends
	}
	if l.budget != nil && !l.budget.Settle() {
		// poold's listeners hold their budget and none can give one up.
		l.mu.Lock()
		l.dropLocked(cc)
		l.mu.Unlock()
		return nil, false
	}
	return cc, true
}

// dropLocked takes c out of l's set (l.mu held).
func (l *capListener) dropLocked(c *capConn) {
	if _, ok := l.open[c]; ok {
		delete(l.open, c)
		if l.budget != nil {
			l.budget.Remove()
		}
	}
}

// shed is l's part in its ConnBudget: it closes the connection that has
// waited longest for a request, if one does.
func (l *capListener) shed() bool {
	l.mu.Lock()
	var victim *capConn
	for o := range l.open {
		if o.busy == 0 && (victim == nil || o.waiting.Before(victim.waiting)) {
			victim = o
		}
	}
	if victim != nil {
		l.dropLocked(victim)
	}
	l.mu.Unlock()
	if victim == nil {
		return false
	}
	_ = victim.Conn.Close()
	return true
}

// capConn is a connection of a capListener; it leaves the listener's set
// when closed, also once hijacked (a websocket), since the hijacker
// closes this same connection.
type capConn struct {
	net.Conn
	l *capListener
	// Under l.mu:
	busy    int            // requests being served (one, but for a hijack's overlap)
	waiting time.Time      // since when it waits for a request
	state   http.ConnState // as its server last set it
	// closeSent: hijacked for a websocket, which has written its close
	// frame (handedOver).
	closeSent bool
}

// handedOver returns what a websocket's writer calls once it has written
// its close frame (conn.go's closeWith): an upgrade's hand-over then no
// longer waits for the connection r came on, whose close handshake may
// last until the exec cuts it.
func handedOver(r *http.Request) func() {
	cc, ok := r.Context().Value(capConnKey{}).(*capConn)
	if !ok {
		return func() {}
	}
	return func() {
		cc.l.mu.Lock()
		cc.closeSent = true
		cc.l.mu.Unlock()
	}
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
	c.l.dropLocked(c)
	c.l.mu.Unlock()
	return c.Conn.Close()
}

// refuseLog logs newcomers closed for the bound, once a minute for all
// addresses together: a flood comes from many.
func refuseLog(q *quietLog, listener string) func(remote string, limit int) {
	return func(remote string, limit int) {
		q.Warn("any", "connection refused: every connection to the "+listener+" is serving a request; the rest are refused until some end (the bound is a quarter of poold's open-file limit, ulimit -n, and half of it for all of poold's listeners)",
			"remote", remote, "limit", limit)
	}
}
