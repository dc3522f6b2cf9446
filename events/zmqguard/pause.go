package zmqguard

import (
	"time"
)

// Pausing a guard's listeners, for an in-place upgrade: while paused, a
// listener accepts nothing, so a client connecting meanwhile waits in the
// kernel's backlog for the next image, which takes the listener over,
// instead of being accepted by an image about to exec, which would close
// its connection with the request it sent.

// PauseAccept makes g's listeners stop accepting connections (one in
// handshake goes on) until resume is called. Once it has returned,
// nothing is accepted: a client that connects then waits.
func (g *Guard) PauseAccept() (resume func()) {
	registry.mu.Lock()
	var ls []*listener
	for l := range registry.live {
		if l.g == g {
			ls = append(ls, l)
		}
	}
	registry.mu.Unlock()
	for _, l := range ls {
		l.pause()
	}
	return func() {
		for _, l := range ls {
			l.resume()
		}
	}
}

// deadliner is what net.TCPListener and net.UnixListener have, to wake an
// Accept in progress.
type deadliner interface{ SetDeadline(time.Time) error }

// pause stops l accepting and returns once its acceptor is out of Accept:
// from then on nothing is accepted until resume. The deadline alone does
// not ensure that: the acceptor it wakes may run only after a client
// connected, and the runtime then reports the listener ready rather than
// the deadline passed, so that Accept returns the client. A connection
// so accepted before pause returns goes on to its handshake.
func (l *listener) pause() {
	l.mu.Lock()
	if l.paused == nil {
		l.paused = make(chan struct{})
	}
	out := l.accepting
	l.mu.Unlock()
	d, ok := l.raw.(deadliner)
	if !ok || out == nil {
		return // not in Accept, or cannot be woken: stops after this one
	}
	_ = d.SetDeadline(time.Unix(1, 0)) // wakes the acceptor's Accept
	select {
	case <-out:
	case <-l.done:
	}
}

func (l *listener) resume() {
	if d, ok := l.raw.(deadliner); ok {
		_ = d.SetDeadline(time.Time{})
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.paused != nil {
		close(l.paused)
		l.paused = nil
	}
}

// pausedNow reports whether l is paused.
func (l *listener) pausedNow() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.paused != nil
}

// enterAccept waits, on the acceptor, until l is not paused, and marks
// the acceptor in Accept (out is closed by leaveAccept); false when l
// closed meanwhile.
func (l *listener) enterAccept() (out chan struct{}, ok bool) {
	for {
		l.mu.Lock()
		p := l.paused
		if p == nil {
			out = make(chan struct{})
			l.accepting = out
			l.mu.Unlock()
			return out, true
		}
		l.mu.Unlock()
		select {
		case <-p:
		case <-l.done:
			return nil, false
		}
	}
}

// leaveAccept marks the acceptor out of Accept, a connection it returned
// handed to its handshake.
func (l *listener) leaveAccept(out chan struct{}) {
	l.mu.Lock()
	l.accepting = nil
	l.mu.Unlock()
	close(out)
}
