package zmqguard

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// conn is a guarded net.Conn as zmq4 sees it.
//
// Reads: zmq4 reads from one goroutine at a time (handshake, then its
// reader), so the read side has no lock. Bytes are scanned as they arrive;
// an oversized frame aborts the conn.
//
// Writes: Write appends to a bounded buffer under mu and never blocks on
// the network; the writer goroutine drains it with write deadlines. Whole
// messages are dropped while the buffer is full. The buffer keeps where
// each message starts, so that when the connection ends with data still
// unwritten (evicted, closed by the peer, linger over) the messages the
// peer will never get are counted as dropped.
type conn struct {
	g      *Guard
	raw    net.Conn
	server bool

	// read side (single reader)
	in        *stream
	replay    []byte
	delivered int64
	adopted   atomic.Bool // zmq4 read past the handshake: it owns the conn
	spoke     bool        // counted in Guard.Spoke
	peerID    string      // identity assigned by Options.TagPeers, forgotten at close
	parked    atomic.Bool // frozen at a message boundary (freeze.go)

	// hand-over (freeze.go, handed.go): the accepting listener's key, the
	// peer's handshake as it sent it; resumed: a conn handed over by the
	// previous image, whose peer already has zmq4's greeting and READY.
	key     string
	hs      []byte
	resumed bool

	// bounds (held.go): the entry in the Guard's heldSet, when the peer
	// last sent or took bytes (unix ns), messages it sent and got.
	held       heldEntry
	lastActive atomic.Int64
	requests   atomic.Int64
	replies    atomic.Int64
	// idle bound (idle.go): its peer, its timer (nil: none; the writer's)
	idlePeer  Peer
	idleTimer *time.Timer
	recheck   chan struct{} // RecheckIdle: ask the bound again (cap 1)
	// queued: bytes queued for the peer, not written yet (its share of
	// Guard.unflushed; unread.go).
	queued    atomic.Int64
	movedAt   atomic.Int64 // unix ns: its writer last moved a byte (unread.go)
	releasing atomic.Int64 // of queued, counted in Guard.unread.releasing
	// lag (lag.go): who the peer is (set by hold), when it connected,
	// the messages it never got (its share of Guard.dropped).
	who       Peer
	since     time.Time
	dropCount atomic.Uint64

	// write side
	mu       sync.Mutex
	out      *stream
	dropping bool
	pending  []byte
	starts   []int // offsets in pending where a message begins
	spare    []byte
	spareSt  []int
	inflight int
	// messages with bytes in pending (past c.starts: whether its first
	// byte continues a message) and in the buffer being written
	// (queuedManyLocked)
	pendingMid   bool
	inflightMsgs int
	closed       bool
	kick         chan struct{}
	// hangUpAfter: once the peer has been sent more than this many
	// messages, flush and close (HangUp); -1 for never.
	hangUpAfter int64

	dlMu        sync.Mutex
	lingerUntil time.Time // set by Close: flush no longer than this

	closeOnce  sync.Once
	closing    chan struct{}
	aborted    atomic.Bool
	adoptTimer *time.Timer
	wg         sync.WaitGroup
}

// newServerConn wraps an accepted conn whose handshake the guard already
// did: in has scanned replay, and nullGreeting was sent.
func newServerConn(g *Guard, raw net.Conn, in *stream, replay []byte, peerID string, h handshakeOf) *conn {
	c := newConn(g, raw, true)
	c.in = in
	c.replay = replay
	c.peerID = peerID
	c.key, c.hs, c.resumed = h.key, h.hs, h.resumed
	g.frozen.add(c)
	g.hold(c)
	// Replayed bytes count against the stream's offsets (in has consumed
	// what was read); a rewritten READY differs in length from that.
	c.delivered = in.consumed - int64(len(replay))
	c.start()
	return c
}

// handshakeOf is what a server conn keeps for a hand-over (see conn).
type handshakeOf struct {
	key     string
	hs      []byte
	resumed bool
}

// newDialConn wraps a dialled conn; the handshake must finish before
// HandshakeTimeout.
func newDialConn(g *Guard, raw net.Conn) *conn {
	c := newConn(g, raw, false)
	c.in = newStream(uint64(g.opts.MaxFrame))
	_ = raw.SetReadDeadline(time.Now().Add(g.opts.HandshakeTimeout))
	c.start()
	return c
}

func newConn(g *Guard, raw net.Conn, server bool) *conn {
	return &conn{
		g:       g,
		raw:     raw,
		server:  server,
		out:     newStream(0),
		kick:    make(chan struct{}, 1),
		recheck: make(chan struct{}, 1),
		closing: make(chan struct{}),

		hangUpAfter: -1,
	}
}

func (c *conn) start() {
	c.g.conns.Add(1)
	c.adoptTimer = time.NewTimer(c.g.opts.HandshakeTimeout)
	c.wg.Add(1)
	go c.writeLoop()
}

func (c *conn) opErr(op string, err error) error {
	return &net.OpError{Op: op, Net: c.raw.LocalAddr().Network(), Source: c.raw.LocalAddr(), Addr: c.raw.RemoteAddr(), Err: err}
}

// Read serves the replayed handshake first, then the network, scanning
// every byte before zmq4 sees it.
func (c *conn) Read(b []byte) (int, error) {
	c.noteSpoke()
	if !c.adopted.Load() && c.in.handshook() && c.delivered >= c.in.handshakeEnd {
		c.adopted.Store(true)
		if !c.server {
			_ = c.raw.SetReadDeadline(time.Time{})
		}
	}
	if len(c.replay) > 0 {
		n := copy(b, c.replay)
		c.replay = c.replay[n:]
		c.delivered += int64(n)
		return n, nil
	}
	n, err := c.readRaw(b)
	if n > 0 {
		msgs := c.in.msgs
		if serr := c.in.scan(b[:n]); serr != nil {
			if errors.Is(serr, errFrameTooLarge) {
				c.g.oversize(c.raw)
			} else {
				c.g.handshakeFailed(c.raw, serr)
			}
			c.abort()
			return 0, c.opErr("read", serr)
		}
		c.delivered += int64(n)
		if c.server {
			c.requests.Add(int64(c.in.msgs - msgs))
			c.touch()
			c.g.lastRead.Store(time.Now().UnixNano())
			c.g.delivered.Add(c.in.msgs - msgs)
		}
	}
	if err != nil && !c.adopted.Load() {
		// The handshake failed: timed out, or the peer closed the conn
		// (zmq4 then drops it without closing it; ending it here frees
		// the writer at once rather than at HandshakeTimeout).
		if errors.Is(err, os.ErrDeadlineExceeded) {
			c.g.handshakeTimeouts.Add(1)
		}
		c.abort()
	}
	return n, err
}

// noteSpoke counts the conn in Guard.Spoke once its peer's first frame
// after the handshake (a subscription) has been applied: zmq4 reads each
// frame with io.ReadFull of its header, then its body, and handles the
// message before it reads again, so a Read that comes once that frame
// was delivered means zmq4 is done with it.
func (c *conn) noteSpoke() {
	if c.server && !c.spoke && c.in.spoke && c.delivered >= c.in.spokeAt {
		c.spoke = true
		c.g.noteSpoke()
	}
}

// Write queues p and returns at once. It fails only when the conn is
// closed or evicted.
func (c *conn) Write(p []byte) (int, error) {
	c.mu.Lock()
	n, err := c.writeLocked(p)
	c.mu.Unlock()
	if c.server && err == nil {
		c.g.checkUnread()
	}
	return n, err
}

// writeGreetingLocked takes the part of zmq4's greeting at the head of
// p: a server's was sent by the guard during the handshake and must match
// it; a client's is queued. It returns how many bytes of p it took.
func (c *conn) writeGreetingLocked(p []byte) (int, error) {
	off := greetingLen - c.out.greetLeft
	n, _ := c.out.step(p)
	if !c.server {
		c.pending = append(c.pending, p[:n]...)
		c.queue(int64(n))
		return n, nil
	}
	if !bytes.Equal(p[:n], nullGreeting[off:off+n]) {
		c.abortLocked()
		return 0, c.opErr("write", fmt.Errorf("%w: zmq4 sent a non-NULL greeting; only NULL security is supported", errBadGreeting))
	}
	return n, nil
}

func (c *conn) writeLocked(p []byte) (int, error) {
	if c.closed {
		return 0, c.opErr("write", net.ErrClosed)
	}
	total := len(p)
	for len(p) > 0 {
		if c.out.greetLeft > 0 {
			n, err := c.writeGreetingLocked(p)
			if err != nil {
				return 0, err
			}
			p = p[n:]
			continue
		}
		if c.resumed && !c.out.handshook() {
			// zmq4's READY: the peer had it from the previous image.
			n, err := c.out.step(p)
			if err != nil {
				c.abortLocked()
				return 0, c.opErr("write", err)
			}
			p = p[n:]
			continue
		}
		if c.out.atMessageStart() {
			c.dropping = len(c.pending)+c.inflight >= c.g.opts.MaxBuffered
			if c.dropping {
				c.g.dropped.Add(1)
				c.dropCount.Add(1)
			} else if p[0]&flagCommand == 0 {
				c.starts = append(c.starts, len(c.pending))
			}
		}
		mid := c.out.midMessage()
		n, err := c.out.step(p)
		if err != nil {
			c.abortLocked()
			return 0, c.opErr("write", err)
		}
		if !c.dropping {
			if len(c.pending) == 0 {
				c.pendingMid = mid
			}
			c.pending = append(c.pending, p[:n]...)
			c.queue(int64(n))
		}
		p = p[n:]
	}
	if c.server {
		c.replies.Store(int64(c.out.msgs))
		if c.hangUpAfter >= 0 && c.out.msgs > uint64(c.hangUpAfter) && c.out.atMessageStart() {
			c.closeSoonLocked() // its reply is queued whole (HangUp)
		}
	}
	if len(c.pending)+c.inflight > 2*c.g.opts.MaxBuffered && c.queuedManyLocked() {
		// (One message alone may be larger: a big reply to a client
		// that reads it.)
		c.g.evicted.Add(1)
		c.abortLocked()
		return 0, c.opErr("write", errors.New("peer evicted: outgoing buffer overflow"))
	}
	select {
	case c.kick <- struct{}{}:
	default:
	}
	return total, nil
}

// Close flushes what is buffered for at most Options.Linger, closes the
// connection and waits for its writer goroutine.
func (c *conn) Close() error {
	c.mu.Lock()
	c.closeSoonLocked()
	c.mu.Unlock()
	c.wg.Wait()
	return nil
}

// closeSoonLocked starts Close without waiting for the writer: it
// flushes for at most Linger, then closes (c.mu held).
func (c *conn) closeSoonLocked() {
	c.closed = true
	c.dlMu.Lock()
	if c.lingerUntil.IsZero() {
		c.lingerUntil = time.Now().Add(c.g.opts.Linger)
		_ = c.raw.SetWriteDeadline(c.lingerUntil)
	}
	c.dlMu.Unlock()
	c.signalClose()
}

// abort closes the connection at once, dropping buffered data. It does
// not wait (it may run on the writer goroutine).
func (c *conn) abort() {
	c.mu.Lock()
	c.abortLocked()
	c.mu.Unlock()
}

func (c *conn) abortLocked() {
	c.closed = true
	c.aborted.Store(true)
	c.raw.Close()
	c.signalClose()
}

func (c *conn) signalClose() {
	c.closeOnce.Do(func() { close(c.closing) })
}

func (c *conn) writeLoop() {
	defer c.wg.Done()
	defer func() {
		// What was never written is lost to the peer (counted before the
		// conn stops counting as open). zmq4 may keep a reference to a
		// closed conn for a while (its PUB writer is never stopped): do
		// not let it pin megabytes.
		c.mu.Lock()
		c.discard(len(c.starts))
		c.queue(-int64(len(c.pending)))
		c.pending, c.spare, c.starts, c.spareSt = nil, nil, nil, nil
		c.mu.Unlock()
		c.adoptTimer.Stop()
		c.stopIdle()
		c.raw.Close()
		if c.peerID != "" {
			c.g.peers.remove(c.peerID)
		}
		c.g.frozen.remove(c)
		c.g.held.remove(c)
		c.g.unread.releasing.Add(-c.releasing.Load())
		c.g.conns.Add(-1)
	}()
	adoptC := c.adoptTimer.C
	for {
		select {
		case <-c.idleC():
			c.checkIdle()
		case <-c.recheck:
			c.recheckIdle()
		case <-c.closing:
			if !c.aborted.Load() {
				_ = c.flush()
			}
			return
		case <-adoptC:
			adoptC = nil
			if !c.adopted.Load() {
				// zmq4 never read past the handshake: it failed the
				// handshake (e.g. incompatible socket types) and dropped
				// this conn without closing it.
				c.g.handshakeTimeouts.Add(1)
				c.abort()
				return
			}
		case <-c.kick:
			if err := c.flush(); err != nil {
				select {
				case <-c.closing:
				default:
					if errors.Is(err, os.ErrDeadlineExceeded) {
						c.g.evicted.Add(1)
					}
				}
				c.abort()
				return
			}
		}
	}
}

// flush writes everything pending. On failure the messages of the buffer
// it was writing that did not go out whole are dropped (and counted); a
// failure ends the connection.
func (c *conn) flush() error {
	for {
		c.mu.Lock()
		buf, starts := c.pending, c.starts
		if len(buf) == 0 {
			c.mu.Unlock()
			return nil
		}
		c.pending, c.starts = c.spare[:0], c.spareSt[:0]
		c.spare, c.spareSt = nil, nil
		c.inflight = len(buf)
		c.inflightMsgs = len(starts)
		if c.pendingMid {
			c.inflightMsgs++
		}
		c.pendingMid = false
		c.mu.Unlock()

		n, err := c.writeAll(buf)

		c.mu.Lock()
		c.inflight = 0
		c.queue(-int64(len(buf))) // written, or dropped with the conn
		if err != nil {
			c.discard(unwritten(starts, n, len(buf)))
		}
		if cap(buf) <= 64<<10 {
			c.spare, c.spareSt = buf[:0], starts[:0]
		}
		c.mu.Unlock()
		if err != nil {
			return err
		}
	}
}

// writeChunk is the most writeAll hands the kernel at once, so that a big
// reply going out to a slow reader shows its progress (unread.go).
const writeChunk = 256 << 10

// writeAll writes buf, failing only when the peer takes no byte for
// StallTimeout (or past the linger deadline once closing). It returns how
// many bytes went out.
func (c *conn) writeAll(buf []byte) (int, error) {
	total := len(buf)
	for len(buf) > 0 {
		c.dlMu.Lock()
		dl := time.Now().Add(c.g.opts.StallTimeout)
		lingering := !c.lingerUntil.IsZero()
		if lingering && c.lingerUntil.Before(dl) {
			dl = c.lingerUntil
		}
		_ = c.raw.SetWriteDeadline(dl)
		c.dlMu.Unlock()
		n, err := c.raw.Write(buf[:min(len(buf), writeChunk)])
		buf = buf[n:]
		if n > 0 {
			c.moved()
		}
		if err != nil {
			if n > 0 && !lingering && errors.Is(err, os.ErrDeadlineExceeded) {
				continue // slow but moving
			}
			return total - len(buf), err
		}
	}
	return total, nil
}

func (c *conn) LocalAddr() net.Addr  { return c.raw.LocalAddr() }
func (c *conn) RemoteAddr() net.Addr { return c.raw.RemoteAddr() }

// SetDeadline and SetWriteDeadline are ignored: the guard owns write
// deadlines. SetReadDeadline passes through.
func (c *conn) SetDeadline(time.Time) error       { return nil }
func (c *conn) SetWriteDeadline(time.Time) error  { return nil }
func (c *conn) SetReadDeadline(t time.Time) error { return c.raw.SetReadDeadline(t) }
