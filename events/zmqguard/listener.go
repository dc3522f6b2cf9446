package zmqguard

import (
	"context"
	"errors"
	"net"
	"os"
	"sync"
	"time"
)

// listener hands zmq4 only connections that completed the ZMTP handshake.
//
// Goroutines: one acceptor, plus one per connection in handshake. Close
// stops the acceptor, closes connections still in handshake and waits for
// all of them.
type listener struct {
	g   *Guard
	raw net.Listener
	ctx context.Context // the zmq4 socket's lifetime

	ready chan *conn // completed handshakes, unbuffered

	closeOnce sync.Once
	done      chan struct{}
	wg        sync.WaitGroup

	mu          sync.Mutex
	handshaking map[net.Conn]struct{}
}

func newListener(ctx context.Context, g *Guard, raw net.Listener) *listener {
	l := &listener{
		g:           g,
		raw:         raw,
		ctx:         ctx,
		ready:       make(chan *conn),
		done:        make(chan struct{}),
		handshaking: make(map[net.Conn]struct{}),
	}
	l.wg.Add(1)
	go l.acceptLoop()
	return l
}

func (l *listener) Addr() net.Addr { return l.raw.Addr() }

// Accept returns the next connection that completed its handshake. After
// Close it waits for the zmq4 socket's context to end before failing, so
// zmq4's accept loop (which retries on any error until its context ends)
// does not spin.
func (l *listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ready:
		return c, nil
	case <-l.done:
		if l.ctx != nil && l.ctx.Done() != nil {
			<-l.ctx.Done()
		}
		return nil, &net.OpError{Op: "accept", Net: l.raw.Addr().Network(), Addr: l.raw.Addr(), Err: net.ErrClosed}
	}
}

func (l *listener) Close() error {
	var err error
	l.closeOnce.Do(func() {
		close(l.done)
		err = l.raw.Close()
		l.mu.Lock()
		for rc := range l.handshaking {
			rc.Close()
		}
		l.mu.Unlock()
		l.wg.Wait()
	})
	return err
}

func (l *listener) acceptLoop() {
	defer l.wg.Done()
	backoff := 5 * time.Millisecond
	for {
		rc, err := l.raw.Accept()
		if err != nil {
			select {
			case <-l.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait, do not spin.
			t := time.NewTimer(backoff)
			select {
			case <-l.done:
				t.Stop()
				return
			case <-t.C:
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		if !l.track(rc) {
			l.g.handshakeErrors.Add(1)
			rc.Close()
			continue
		}
		l.wg.Add(1)
		go l.handshake(rc)
	}
}

// track registers rc as in handshake, unless the Guard is at MaxHandshakes
// or l is closing.
func (l *listener) track(rc net.Conn) bool {
	if l.g.handshakes.Add(1) > int64(l.g.opts.MaxHandshakes) {
		l.g.handshakes.Add(-1)
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case <-l.done:
		l.g.handshakes.Add(-1)
		return false
	default:
	}
	l.handshaking[rc] = struct{}{}
	return true
}

func (l *listener) untrack(rc net.Conn) {
	l.mu.Lock()
	delete(l.handshaking, rc)
	l.mu.Unlock()
	l.g.handshakes.Add(-1)
}

func (l *listener) handshake(rc net.Conn) {
	defer l.wg.Done()
	c, err := serverHandshake(l.g, rc)
	l.untrack(rc)
	if err != nil {
		// Count before closing: whoever sees the close may read Stats.
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			l.g.handshakeTimeouts.Add(1)
		case errors.Is(err, errFrameTooLarge):
			l.g.oversized.Add(1)
		default:
			l.g.handshakeErrors.Add(1)
		}
		rc.Close()
		return
	}
	select {
	case l.ready <- c:
	case <-l.done:
		c.Close()
	}
}

// serverHandshake sends the greeting zmq4 would send, then reads the
// peer's greeting and READY command, all before the deadline. It returns a
// conn that replays what was read and swallows zmq4's own greeting.
func serverHandshake(g *Guard, rc net.Conn) (*conn, error) {
	if err := rc.SetDeadline(time.Now().Add(g.opts.HandshakeTimeout)); err != nil {
		return nil, err
	}
	if _, err := rc.Write(nullGreeting[:]); err != nil {
		return nil, err
	}
	in := newStream(uint64(g.opts.MaxFrame))
	buf := make([]byte, 0, 256)
	var tmp [512]byte
	for !in.handshook() {
		n, err := rc.Read(tmp[:])
		if n > 0 {
			buf = append(buf, tmp[:n]...)
			if len(buf) >= greetingLen && len(buf)-n < greetingLen {
				if gerr := checkGreeting(buf[:greetingLen]); gerr != nil {
					return nil, gerr
				}
			}
			if serr := in.scan(tmp[:n]); serr != nil {
				return nil, serr
			}
		}
		if err != nil && !in.handshook() {
			return nil, err
		}
	}
	if err := checkReady(commandBody(buf[greetingLen:in.handshakeEnd])); err != nil {
		return nil, err
	}
	if err := rc.SetDeadline(time.Time{}); err != nil {
		return nil, err
	}
	return newServerConn(g, rc, in, buf), nil
}

// commandBody strips the frame header off one complete frame.
func commandBody(frame []byte) []byte {
	if frame[0]&flagLong != 0 {
		return frame[9:]
	}
	return frame[2:]
}
