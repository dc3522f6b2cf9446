package web

import (
	"context"
	"net"
	"net/http"
	"time"
)

// Quiescing, for poold's in-place upgrade: the old image stops taking
// connections on its HTTP listeners, keeping their fds open (the new
// image takes them over, with what waits in their backlog), closes the
// idle kept-alive connections and waits, bounded, for the requests it
// has taken to be answered. A probe or scrape taken and then cut by the
// exec would get no answer. Websockets (the console's) are not waited
// for: they close in the exec and the console reconnects.

// Quiesce stops the console taking connections and waits until the
// requests it has taken are answered or ctx ends; it returns how many
// were still in flight, and resume, which makes it take connections
// again (the upgrade did not happen). Safe for concurrent use with
// Serve; a no-op when the console does not serve.
func (s *Server) Quiesce(ctx context.Context) (inFlight int, resume func()) {
	return quiesce(ctx, s.gate.Load())
}

// Quiesce is Server.Quiesce for the metrics and health listener.
func (p *ProbeServer) Quiesce(ctx context.Context) (inFlight int, resume func()) {
	return quiesce(ctx, p.gate.Load())
}

func quiesce(ctx context.Context, l *capListener) (int, func()) {
	if l == nil {
		return 0, func() {}
	}
	return l.quiesce(ctx)
}

// quiesce is Server.Quiesce on l.
func (l *capListener) quiesce(ctx context.Context) (int, func()) {
	l.mu.Lock()
	if l.paused == nil {
		l.paused = make(chan struct{})
	}
	l.mu.Unlock()
	// Ends an accept in flight; a connection it took meanwhile is
	// admitted before acceptMu is free, so it is waited for below.
	if d, ok := l.Listener.(interface{ SetDeadline(time.Time) error }); ok && d.SetDeadline(time.Unix(1, 0)) == nil {
		l.acceptMu.Lock()
		l.acceptMu.Unlock() // a barrier: no accept is in flight past it
	}
	l.hs.SetKeepAlivesEnabled(false) // idle ones close now, the others after their answer
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	n := l.inFlight()
	for n > 0 {
		select {
		case <-ctx.Done():
			return n, l.resume
		case <-tick.C:
		}
		n = l.inFlight()
	}
	return 0, l.resume
}

// inFlight counts the connections that wait for a request they were
// accepted for, or are being answered.
func (l *capListener) inFlight() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for c := range l.open {
		if c.state == http.StateNew || c.state == http.StateActive {
			n++
		}
	}
	return n
}

// resume undoes quiesce.
func (l *capListener) resume() {
	l.hs.SetKeepAlivesEnabled(true)
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

// waitResumed returns once l is not quiesced, or net.ErrClosed once it
// is closed.
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
