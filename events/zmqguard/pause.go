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
// handshake goes on) until resume is called.
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

func (l *listener) pause() {
	l.mu.Lock()
	if l.paused == nil {
		l.paused = make(chan struct{})
	}
	l.mu.Unlock()
	if d, ok := l.raw.(deadliner); ok {
		_ = d.SetDeadline(time.Unix(1, 0)) // wakes the acceptor's Accept
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

// whilePaused waits, on the acceptor, until l is not paused; false when
// l closed meanwhile.
func (l *listener) whilePaused() bool {
	for {
		l.mu.Lock()
		p := l.paused
		l.mu.Unlock()
		if p == nil {
			return true
		}
		select {
		case <-p:
		case <-l.done:
			return false
		}
	}
}
