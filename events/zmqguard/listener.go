package zmqguard

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// listener hands zmq4 only connections that completed the ZMTP handshake.
//
// Goroutines: one acceptor, plus one per connection in handshake (the
// Guard's pendingSet bounds those). Close stops the acceptor, closes
// connections still in handshake and waits for all of them.
type listener struct {
	g   *Guard
	raw net.Listener
	ctx context.Context // the zmq4 socket's lifetime
	key string          // as Listening names it

	ready chan *conn // completed handshakes, unbuffered

	closeOnce sync.Once
	done      chan struct{}
	wg        sync.WaitGroup

	mu          sync.Mutex
	handshaking map[net.Conn]struct{}
	paused      chan struct{} // under mu: accepting is paused until closed (pause.go)
	accepting   chan struct{} // under mu: the acceptor is in Accept until closed (pause.go)
}

func newListener(ctx context.Context, g *Guard, raw net.Listener, key string) *listener {
	l := &listener{
		g:           g,
		raw:         raw,
		ctx:         ctx,
		key:         key,
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
		untrack(l)
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
	failed := 0 // accepts failed in a row (out of fds)
	for {
		out, ok := l.enterAccept()
		if !ok {
			return
		}
		rc, err := l.raw.Accept()
		if err == nil {
			backoff = 5 * time.Millisecond
			if failed > 0 && l.g.opts.OnAcceptError != nil {
				l.g.opts.OnAcceptError(nil, failed)
			}
			failed = 0
			if e := l.track(rc); e != nil {
				l.wg.Add(1)
				go l.handshake(e)
			} else {
				rc.Close()
			}
		}
		l.leaveAccept(out)
		if err == nil || l.pausedNow() || errors.Is(err, os.ErrDeadlineExceeded) {
			continue // accepted, or woken by pause (perhaps resumed since)
		}
		select {
		case <-l.done:
			return
		default:
		}
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if failed++; failed == 1 && l.g.opts.OnAcceptError != nil {
			l.g.opts.OnAcceptError(err, 0)
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
	}
}

// track registers rc as in handshake, making room if the Guard or this
// peer is at its bound (see pendingSet). It returns nil if l is closing.
func (l *listener) track(rc net.Conn) *pendingConn {
	peer := peerOf(rc)
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case <-l.done:
		return nil
	default:
	}
	e, victim := l.g.pending.add(rc, peer)
	if victim != nil {
		// Its handshake goroutine sees the close and exits.
		l.g.handshakesEvicted.Add(1)
		victim.rc.Close()
	}
	l.handshaking[rc] = struct{}{}
	return e
}

// untrack unregisters e and reports whether it was still pending (false:
// another connection displaced it).
func (l *listener) untrack(e *pendingConn) bool {
	l.mu.Lock()
	delete(l.handshaking, e.rc)
	l.mu.Unlock()
	return l.g.pending.remove(e)
}

func (l *listener) handshake(e *pendingConn) {
	defer l.wg.Done()
	rc := e.rc
	in, buf, err := serverHandshake(l.g, rc, &e.talked)
	if !l.untrack(e) {
		rc.Close() // displaced, and counted, by a newer connection
		return
	}
	if err != nil {
		// Count before closing: whoever sees the close may read Stats.
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			l.g.handshakeTimedOut(rc, len(buf))
		case errors.Is(err, errFrameTooLarge):
			l.g.oversize(rc)
		case !e.talked.Load() && closedByPeer(err):
			l.g.probes.Add(1)
		case closedByPeer(err):
			l.g.handshakeAbandoned(rc, err)
		default:
			l.g.handshakeFailed(rc, err)
		}
		rc.Close()
		return
	}
	h := handshakeOf{key: l.key, hs: append([]byte(nil), buf[:in.handshakeEnd]...)}
	var peerID string
	if l.g.opts.TagPeers {
		peerID = l.g.peers.add(peerInfo(rc))
		buf = setIdentity(buf, in.handshakeEnd, peerID)
	}
	c := newServerConn(l.g, rc, in, buf, peerID, h)
	select {
	case l.ready <- c:
	case <-l.done:
		c.Close()
	}
}

// serverHandshake sends the greeting zmq4 would send, then reads the
// peer's greeting and READY command, all before the deadline. It returns
// the scanned stream and the bytes read, for a conn that replays them and
// swallows zmq4's own greeting. talked is set at the first byte read.
func serverHandshake(g *Guard, rc net.Conn, talked *atomic.Bool) (*stream, []byte, error) {
	if err := rc.SetDeadline(time.Now().Add(g.opts.HandshakeTimeout)); err != nil {
		return nil, nil, err
	}
	if _, err := rc.Write(nullGreeting[:]); err != nil && !closedByPeer(err) {
		return nil, nil, err
	}
	// A peer that closed before our greeting went out (EPIPE at once on
	// ipc) may still have sent bytes: read them, so that it is told
	// apart from a probe, and what it sent is checked.
	in := newStream(uint64(g.opts.MaxFrame))
	buf := make([]byte, 0, 256)
	var tmp [512]byte
	for !in.handshook() {
		n, err := rc.Read(tmp[:])
		if n > 0 {
			talked.Store(true)
			buf = append(buf, tmp[:n]...)
			if len(buf)-n < greetingLen {
				if gerr := checkGreeting(buf[:min(len(buf), greetingLen)]); gerr != nil {
					return nil, nil, gerr
				}
			}
			if serr := in.scan(tmp[:n]); serr != nil {
				return nil, nil, serr
			}
		}
		if err != nil && !in.handshook() {
			return nil, buf, err // what came, for a timeout's report
		}
	}
	if err := checkReady(commandBody(buf[greetingLen:in.handshakeEnd])); err != nil {
		return nil, nil, err
	}
	if err := rc.SetDeadline(time.Time{}); err != nil {
		return nil, nil, err
	}
	return in, buf, nil
}

// commandBody strips the frame header off one complete frame.
func commandBody(frame []byte) []byte {
	if frame[0]&flagLong != 0 {
		return frame[9:]
	}
	return frame[2:]
}

// closedByPeer reports whether err is the peer's close (a FIN, or a reset
// after our greeting) rather than a malformed or timed-out handshake.
func closedByPeer(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
