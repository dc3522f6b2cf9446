package controller

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zeromq/zmq4"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/events/zmqguard"
)

// Byte bounds of the request queues, beside the counts of Controller's
// MaxQueuedPerPeer and MaxQueued. A peer's first queued request is taken
// whatever its size (it is at most MaxRequest).
const (
	maxQueuedBytesPerPeer = 8 << 20
	maxQueuedBytes        = 64 << 20
)

// server is one Run's request pipeline (see the package doc).
type server struct {
	c          *Controller
	ctx        context.Context
	sock       zmq4.Socket
	out        chan zmq4.Msg
	flush      chan struct{} // closed by Run: send what is queued and exit
	senderDone chan struct{}
	closed     atomic.Bool
	unroutable atomic.Bool // logged once

	// Limits, from the Controller's fields or their defaults.
	maxParked, maxParkedPerPeer, maxQueued, maxQueuedPerPeer int

	mu          sync.Mutex
	cond        *sync.Cond // on mu: a queue shrank, a parked request ended, a runner got stuck, or stopping
	stopping    bool
	owed        int       // requests taken (queued or running) and not answered (hold.go)
	received    uint64    // messages taken from the socket, dispatched (hold.go)
	unsent      int       // replies handed to the sender and not sent
	last        time.Time // a request taken or a reply sent
	peers       map[string]*peer
	queued      int // requests in every queue
	queuedBytes int
	parked      int // parked requests running, every peer
	handlers    sync.WaitGroup
}

// peer is one connection's share of the server (all fields under mu).
type peer struct {
	id      string
	queue   []request
	bytes   int  // of the raw requests in queue
	running bool // a runner serves queue
	stuck   bool // the runner holds a parking request and waits for room
	parked  int  // parked requests running
}

// request is one queued message: a request to run, or a malformed one
// with its reply ready.
type request struct {
	envelope [][]byte
	raw      []byte
	reply    []byte
}

func (r request) size() int { return len(r.raw) + len(r.reply) }

func newServer(c *Controller, ctx context.Context, sock zmq4.Socket) *server {
	or := func(v, def int) int {
		if v <= 0 {
			return def
		}
		return v
	}
	s := &server{
		c: c, ctx: ctx, sock: sock,
		out:              make(chan zmq4.Msg, 256),
		flush:            make(chan struct{}),
		senderDone:       make(chan struct{}),
		maxParked:        or(c.MaxInFlight, DefaultMaxInFlight),
		maxParkedPerPeer: or(c.MaxInFlightPerPeer, DefaultMaxInFlightPerPeer),
		maxQueued:        or(c.MaxQueued, DefaultMaxQueued),
		maxQueuedPerPeer: or(c.MaxQueuedPerPeer, DefaultMaxQueuedPerPeer),
		peers:            make(map[string]*peer),
	}
	s.cond = sync.NewCond(&s.mu)
	return s
}

func (s *server) recvLoop() {
	for {
		msg, err := s.sock.Recv()
		if err != nil {
			if s.closed.Load() {
				zmqguard.DrainAfterClose(s.sock)
				return
			}
			// A ROUTER's Recv fails only when its socket is closed.
			s.c.log.Error("control socket receive failed", "endpoint", s.c.bound, "error", err)
			return
		}
		s.dispatch(msg)
		s.mu.Lock()
		s.received++
		s.mu.Unlock()
	}
}

// dispatch splits a message into its envelope and request (see split)
// and queues it. A malformed message is queued with its error reply, so
// that it too is answered in order; one that cannot be routed is logged.
func (s *server) dispatch(msg zmq4.Msg) {
	if msg.Type == zmq4.CmdMsg {
		return // a ZMTP command (e.g. PING) that zmq4 passes up as a message
	}
	envelope, raw, problem := split(msg.Frames)
	switch {
	case envelope == nil:
		if s.unroutable.CompareAndSwap(false, true) {
			s.c.log.Warn("control message without a routing identity dropped (logged once)", "frames", len(msg.Frames))
		}
	case problem != "":
		s.c.log.Debug("malformed control request", "frames", len(msg.Frames), "problem", problem)
		if reply, send := malformed(msg.Frames, problem); send {
			s.enqueue(string(envelope[0]), request{envelope: envelope, reply: reply})
		}
	default:
		s.enqueue(string(envelope[0]), request{envelope: envelope, raw: raw})
	}
}

// enqueue appends r to its peer's queue and starts the peer's runner if
// none runs. While the queue is full it waits for the runner to make
// room, so that the peer is held back by TCP rather than refused; it
// refuses r (with a reply) only when no room can come soon: the runner is
// stuck behind parked requests, every queue together is full, or poold
// is stopping.
func (s *server) enqueue(id string, r request) {
	s.mu.Lock()
	for {
		var why string
		p := s.peers[id]
		switch {
		case s.stopping:
			why = "poold is shutting down; the request was not run"
		case s.queued >= s.maxQueued || s.queuedBytes+r.size() > maxQueuedBytes:
			why = fmt.Sprintf("poold has %d control requests (%d bytes) queued from all clients, its limit; retry later", s.queued, s.queuedBytes)
		case p == nil:
			p = &peer{id: id}
			s.peers[id] = p
			fallthrough
		case len(p.queue) < s.maxQueuedPerPeer && (len(p.queue) == 0 || p.bytes+r.size() <= maxQueuedBytesPerPeer):
			s.push(p, r)
			s.mu.Unlock()
			return
		case p.stuck:
			why = fmt.Sprintf("too many requests queued (%d) behind this connection's %d requests that wait for their work; read their replies before sending more",
				len(p.queue), p.parked)
		default:
			s.cond.Wait() // the runner makes room
			continue
		}
		s.mu.Unlock()
		s.busy(r, why)
		return
	}
}

// push queues r for p (s.mu held).
func (s *server) push(p *peer, r request) {
	p.queue = append(p.queue, r)
	p.bytes += r.size()
	s.owed++
	s.last = time.Now()
	s.queued++
	s.queuedBytes += r.size()
	if !p.running {
		p.running = true
		s.handlers.Add(1)
		go s.runPeer(p)
	}
}

// runPeer serves p's queue in order until it is empty.
func (s *server) runPeer(p *peer) {
	defer s.handlers.Done()
	for {
		r, parks, ok := s.next(p)
		switch {
		case !ok:
			return
		case parks:
			go func() {
				defer s.handlers.Done()
				ctx, stop := s.whilePeerWaits(p.id)
				s.serve(ctx, p.id, r)
				stop()
				s.unpark(p)
			}()
		default:
			s.serve(s.ctx, p.id, r)
			s.answered()
		}
	}
}

// next takes p's next request; for one that parks it waits for room
// under MaxInFlightPerPeer and MaxInFlight and counts it. ok=false: the
// queue is empty and the runner must end.
func (s *server) next(p *peer) (r request, parks, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(p.queue) == 0 {
		p.running = false
		s.forget(p)
		return request{}, false, false
	}
	r = p.queue[0]
	p.queue[0] = request{}
	p.queue = p.queue[1:]
	if len(p.queue) == 0 {
		p.queue = nil
	}
	p.bytes -= r.size()
	s.queued--
	s.queuedBytes -= r.size()
	s.cond.Broadcast() // room for the receiver
	req, err := arbiter.DecodeRequest(r.raw)
	if parks = r.reply == nil && err == nil && arbiter.Parks(req); !parks {
		return r, false, true
	}
	for p.parked >= s.maxParkedPerPeer || s.parked >= s.maxParked {
		p.stuck = true
		s.cond.Broadcast() // the receiver may wait for room that will not come soon
		s.cond.Wait()
	}
	p.stuck = false
	p.parked++
	s.parked++
	s.handlers.Add(1)
	return r, true, true
}

// unpark counts the end of one of p's parked requests.
func (s *server) unpark(p *peer) {
	s.mu.Lock()
	p.parked--
	s.parked--
	s.owed--
	s.forget(p)
	s.cond.Broadcast()
	s.mu.Unlock()
}

// forget drops p once nothing of it is queued or running (s.mu held).
func (s *server) forget(p *peer) {
	if !p.running && p.parked == 0 && len(p.queue) == 0 && s.peers[p.id] == p {
		delete(s.peers, p.id)
	}
}

// whilePeerWaits is s.ctx, cancelled also once the connection of the
// peer with identity closes, for a request that parks: a waited reload
// whose poolctl was interrupted (Ctrl-C) has nobody to answer, and the
// arbiter stops holding an upgrade for its answer once Do gives up
// (settle.go). stop ends the watch; call it once the request is served.
func (s *server) whilePeerWaits(identity string) (ctx context.Context, stop func()) {
	gone := s.c.Guard.PeerGone([]byte(identity))
	ctx, cancel := context.WithCancel(s.ctx)
	if gone == nil {
		return ctx, cancel
	}
	served := make(chan struct{})
	var watch sync.WaitGroup
	watch.Add(1)
	go func() {
		defer watch.Done()
		select {
		case <-gone:
			cancel()
		case <-served:
		}
	}()
	return ctx, func() {
		close(served)
		watch.Wait()
		cancel()
	}
}

// serve runs r's handler under ctx and sends its reply.
func (s *server) serve(ctx context.Context, identity string, r request) {
	if r.reply != nil {
		s.reply(r.envelope, r.reply)
		return
	}
	reply, send := s.call(ctx, identity, r.raw)
	if send {
		s.reply(r.envelope, reply)
	}
}

// call runs the handler; a panic becomes an errno 0 reply instead of
// taking poold down.
func (s *server) call(ctx context.Context, identity string, raw []byte) (reply []byte, send bool) {
	ctx = arbiter.WithCallerFunc(ctx, s.c.caller(identity))
	if s.c.acl.Load() != nil {
		reply, send, refused, role := s.c.refuse([]byte(identity), raw)
		if refused {
			if role == arbiter.RoleNone {
				// It may run nothing: answer, then close its connection,
				// so that it cannot hold poold's fds (held.go).
				s.c.Guard.HangUp([]byte(identity), send)
			}
			return reply, send
		}
		ctx = arbiter.WithRole(ctx, role) // a read-only peer's replies withhold env
	}
	defer func() {
		if r := recover(); r != nil {
			s.c.log.Error("control handler panicked", "panic", r, "stack", string(debug.Stack()))
			reply, send = arbiter.FailReply(raw, fmt.Errorf("internal error: %v", r))
		}
	}()
	return s.c.handle(ctx, raw)
}

// busy answers r with errno 5 and reason, unless r is a cast.
func (s *server) busy(r request, reason string) {
	if r.reply != nil {
		s.reply(r.envelope, r.reply) // a malformed request's own error says more
		return
	}
	if rep, send := arbiter.FailReply(r.raw, &arbiter.CommandError{Errno: arbiter.ErrnoFailed, Reason: reason}); send {
		s.reply(r.envelope, rep)
	}
}

// reply hands one reply to the sender. It waits while the sender's queue
// is full (the sender never blocks for long: the guard's Send does not);
// only once the sender has exited, at shutdown, is a reply given up.
func (s *server) reply(envelope [][]byte, body []byte) {
	msg := zmq4.NewMsgFrom(append(envelope[:len(envelope):len(envelope)], body)...)
	s.mu.Lock()
	s.unsent++
	s.mu.Unlock()
	select {
	case s.out <- msg:
	case <-s.senderDone:
		s.c.log.Debug("control reply not sent: the endpoint is closing")
		s.sent()
	}
}

func (s *server) sendLoop() {
	defer close(s.senderDone)
	for {
		select {
		case msg := <-s.out:
			s.send(msg)
		case <-s.flush:
			for {
				select {
				case msg := <-s.out:
					s.send(msg)
				default:
					return
				}
			}
		}
	}
}

func (s *server) send(msg zmq4.Msg) {
	defer s.sent()
	if err := s.sock.Send(msg); err != nil {
		// The peer went away or was evicted; nothing to do.
		s.c.log.Debug("control reply not sent", "error", err)
	}
}
