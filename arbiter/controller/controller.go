// Package controller is poold's control endpoint: a ZeroMQ ROUTER that
// receives JSON requests from DEALER or REQ clients (PROTOCOL.md section 1),
// hands each to a Handler, and sends the reply back with the framing the
// request used. It also holds the Client that poolctl and tests use.
//
// The socket goes through a zmqguard.Guard, so silent, flooding,
// non-reading or malformed peers cannot stall or crash it.
//
// Concurrency: Run owns everything it starts and returns only after all of
// it ended:
//
//	receiver ──raw──▶ handler goroutines (≤ MaxInFlight) ──reply──▶ sender ──▶ ROUTER
//	    └── over MaxInFlight: errno 5 reply ───────────────────────────▶┘
//
// One receiver goroutine calls Recv; each request runs in its own goroutine
// (a handler may block for long with "waiting": true), at most MaxInFlight
// in all and MaxInFlightPerPeer per connection; one sender goroutine
// is the only caller of Send, because zmq4 sockets are not safe for
// concurrent sends. Handlers get Run's context: when it is cancelled they
// should answer promptly; their replies are still sent before the socket
// closes.
//
// A Client is safe for concurrent use: one reader goroutine matches replies
// to calls by "id"; Close waits for it.
package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/netip"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/go-zeromq/zmq4"
	"github.com/hashicorp/go-hclog"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/events/zmqguard"
)

// Handler answers one raw request. send=false means no reply at all (a
// cast).
type Handler func(ctx context.Context, raw []byte) (reply []byte, send bool)

// Defaults for Controller's limits.
const (
	DefaultMaxInFlight        = 256
	DefaultMaxInFlightPerPeer = 32
)

// Controller serves the control endpoint. Set the exported fields before
// Run.
type Controller struct {
	// MaxInFlight bounds concurrently running handlers; requests beyond it
	// get errno 5 "too many requests in flight" (DefaultMaxInFlight).
	MaxInFlight int
	// MaxInFlightPerPeer bounds one connection's running handlers, so a
	// flooding peer cannot take every slot (DefaultMaxInFlightPerPeer).
	MaxInFlightPerPeer int
	// AllowNonLoopback permits a tcp:// endpoint on a non-loopback address.
	// The protocol has no authentication: whoever connects can spawn
	// commands.
	AllowNonLoopback bool
	// Guard is the transport guard (its own, with default options, from New).
	Guard *zmqguard.Guard

	endpoint string
	handle   Handler
	log      hclog.Logger
	acl      atomic.Pointer[ACL]

	started atomic.Bool
	ready   chan struct{}
	bound   string
}

// MaxRequest is the largest control request poold reads, in bytes; a
// bigger one closes its connection (the request cannot be answered).
const MaxRequest = 1 << 20

// New returns a Controller for endpoint ("ipc:///path" or "tcp://host:port").
// It does no I/O.
func New(endpoint string, h Handler, log hclog.Logger) *Controller {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &Controller{
		MaxInFlight:        DefaultMaxInFlight,
		MaxInFlightPerPeer: DefaultMaxInFlightPerPeer,
		Guard: zmqguard.New(zmqguard.Options{MaxFrame: MaxRequest, OnOversized: func(peer string) {
			log.Warn("control connection closed: a request over the limit; send less (fewer or shorter args, env)", "peer", peer, "limit_bytes", MaxRequest)
		}}),
		endpoint: endpoint,
		handle:   h,
		log:      log,
		ready:    make(chan struct{}),
	}
}

// Ready is closed once the socket is bound.
func (c *Controller) Ready() <-chan struct{} { return c.ready }

// Endpoint returns the bound endpoint (with the real port for tcp port 0).
// Valid after Ready is closed.
func (c *Controller) Endpoint() string {
	select {
	case <-c.ready:
		return c.bound
	default:
		return ""
	}
}

// Stats returns the transport guard's counters.
func (c *Controller) Stats() zmqguard.Stats { return c.Guard.Stats() }

// checkEndpoint refuses a tcp endpoint that is not loopback.
func checkEndpoint(ep string, allowRemote bool) error {
	rest, ok := strings.CutPrefix(ep, "tcp://")
	if !ok || allowRemote {
		return nil
	}
	host, _, err := net.SplitHostPort(rest)
	if err != nil {
		return fmt.Errorf("controller: endpoint %q: %v; want tcp://127.0.0.1:port", ep, err)
	}
	if host == "localhost" {
		return nil
	}
	if a, err := netip.ParseAddr(host); err == nil && a.IsLoopback() {
		return nil
	}
	return fmt.Errorf("controller: refusing to bind %s: not a loopback address, and the control protocol has no authentication; use 127.0.0.1 or an ipc:// endpoint", ep)
}

// Run binds the endpoint and serves until ctx is cancelled; then it waits
// for running handlers, sends their replies, closes the socket and returns
// nil. It returns an error if binding fails.
func (c *Controller) Run(ctx context.Context) error {
	if !c.started.CompareAndSwap(false, true) {
		return errors.New("controller: Run called twice")
	}
	if err := checkEndpoint(c.endpoint, c.AllowNonLoopback); err != nil {
		return err
	}
	if acl := c.acl.Load(); acl != nil && strings.HasPrefix(c.endpoint, "ipc://") {
		c.Guard = c.peerGuard(acl)
	}
	gep, err := c.Guard.Endpoint(c.endpoint)
	if err != nil {
		return fmt.Errorf("controller: %w", err)
	}
	sock := zmq4.NewRouter(context.Background(), zmq4.WithLogger(stdLogger(c.log)))
	if err := sock.Listen(gep); err != nil {
		sock.Close()
		return zmqguard.BindError("controller", "arbiter.endpoint", c.endpoint, err)
	}
	c.bound = c.endpoint
	if a := sock.Addr(); a != nil && a.Network() == "tcp" {
		c.bound = "tcp://" + a.String()
	}
	close(c.ready)
	c.log.Info("control endpoint bound", "endpoint", c.bound)

	maxInFlight := c.MaxInFlight
	if maxInFlight <= 0 {
		maxInFlight = DefaultMaxInFlight
	}
	perPeer := c.MaxInFlightPerPeer
	if perPeer <= 0 {
		perPeer = DefaultMaxInFlightPerPeer
	}
	s := &server{
		c:       c,
		ctx:     ctx,
		sock:    sock,
		slots:   make(chan struct{}, maxInFlight),
		perPeer: perPeer,
		byPeer:  make(map[string]int),
		out:     make(chan zmq4.Msg, maxInFlight+64),
	}
	var bg sync.WaitGroup
	bg.Add(2)
	senderDone := make(chan struct{})
	go func() { defer bg.Done(); defer close(senderDone); s.sendLoop() }()
	go func() { defer bg.Done(); s.recvLoop() }()

	<-ctx.Done()
	// 1. No new handlers; the receiver keeps draining but drops.
	s.mu.Lock()
	s.stopping = true
	s.mu.Unlock()
	// 2. Running handlers see ctx cancelled and answer; the sender is still
	// running, so their replies go out.
	s.handlers.Wait()
	// 3. Sender drains what is queued and exits.
	close(s.out)
	<-senderDone
	// 4. Close the socket (each conn flushes for the guard's Linger); the
	// receiver's Recv fails and it exits.
	s.closed.Store(true)
	err = sock.Close()
	bg.Wait()
	c.log.Info("control endpoint closed", "endpoint", c.bound, "guard", fmt.Sprintf("%+v", c.Guard.Stats()))
	if err != nil && !errors.Is(err, net.ErrClosed) {
		c.log.Debug("closing control socket", "error", err)
	}
	return nil
}

type server struct {
	c       *Controller
	ctx     context.Context
	sock    zmq4.Socket
	slots   chan struct{}
	perPeer int
	out     chan zmq4.Msg

	mu       sync.Mutex
	stopping bool
	byPeer   map[string]int // running handlers per identity
	handlers sync.WaitGroup
	closed   atomic.Bool
}

func (s *server) recvLoop() {
	for {
		msg, err := s.sock.Recv()
		if err != nil {
			if s.closed.Load() {
				drainAfterClose(s.sock)
				return
			}
			// A ROUTER's Recv fails only when its socket is closed.
			s.c.log.Error("control socket receive failed", "endpoint", s.c.bound, "error", err)
			return
		}
		s.dispatch(msg)
	}
}

// dispatch splits [identity, json] (DEALER) or [identity, "", json] (REQ)
// and starts a handler; anything else is dropped.
func (s *server) dispatch(msg zmq4.Msg) {
	if msg.Type == zmq4.CmdMsg {
		return // a ZMTP command (e.g. PING) that zmq4 passes up as a message
	}
	f := msg.Frames
	var envelope [][]byte
	var raw []byte
	switch {
	case len(f) == 2 && len(f[0]) > 0:
		envelope, raw = f[:1], f[1]
	case len(f) == 3 && len(f[0]) > 0 && len(f[1]) == 0:
		envelope, raw = f[:2], f[2]
	default:
		s.c.log.Debug("dropping malformed control request", "frames", len(f))
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return
	}
	peer := string(f[0])
	if s.byPeer[peer] >= s.perPeer {
		s.overloaded(envelope, raw, s.perPeer)
		return
	}
	select {
	case s.slots <- struct{}{}:
	default:
		s.overloaded(envelope, raw, cap(s.slots))
		return
	}
	s.byPeer[peer]++
	s.handlers.Add(1)
	go func() {
		defer s.handlers.Done()
		defer func() {
			<-s.slots
			s.mu.Lock()
			if s.byPeer[peer]--; s.byPeer[peer] == 0 {
				delete(s.byPeer, peer)
			}
			s.mu.Unlock()
		}()
		reply, send := s.call(peer, raw)
		if !send {
			return
		}
		s.out <- zmq4.NewMsgFrom(append(envelope[:len(envelope):len(envelope)], reply)...)
	}()
}

// call runs the handler; a panic becomes an errno 0 reply instead of
// taking poold down.
func (s *server) call(identity string, raw []byte) (reply []byte, send bool) {
	if s.c.acl.Load() != nil {
		if reply, send, refused := s.c.refuse([]byte(identity), raw); refused {
			return reply, send
		}
	}
	defer func() {
		if r := recover(); r != nil {
			s.c.log.Error("control handler panicked", "panic", r, "stack", string(debug.Stack()))
			req, _ := arbiter.DecodeRequest(raw)
			reply, _ = json.Marshal(arbiter.Fail(req.ID, fmt.Errorf("internal error: %v", r)))
			send = req.MsgType != "cast"
		}
	}()
	return s.c.handle(s.ctx, raw)
}

// overloaded answers errno 5 without blocking the receiver; if even the
// sender's queue is full the reply is dropped and the client times out.
func (s *server) overloaded(envelope [][]byte, raw []byte, limit int) {
	req, err := arbiter.DecodeRequest(raw)
	if err == nil && req.MsgType == "cast" {
		return
	}
	reason := fmt.Sprintf("too many requests in flight (%d); retry later", limit)
	rep, _ := json.Marshal(arbiter.Fail(req.ID, &arbiter.CommandError{Errno: arbiter.ErrnoFailed, Reason: reason}))
	select {
	case s.out <- zmq4.NewMsgFrom(append(envelope[:len(envelope):len(envelope)], rep)...):
	default:
		s.c.log.Debug("dropping overload reply: send queue full")
	}
}

func (s *server) sendLoop() {
	for msg := range s.out {
		if err := s.sock.Send(msg); err != nil {
			// The peer went away or was evicted; nothing to do.
			s.c.log.Debug("control reply not sent", "error", err)
		}
	}
}

// drainAfterClose empties zmq4's receive queue after Close. zmq4's
// per-connection readers block forever on a full queue (their send does
// not watch the socket's context), and a closed socket's Recv picks at
// random between the queue and the cancelled context, so keep receiving
// until it has reported the context many times in a row.
func drainAfterClose(sock zmq4.Socket) {
	for misses := 0; misses < 64; {
		if msg, err := sock.Recv(); err != nil && msg.Frames == nil {
			misses++
		} else {
			misses = 0
		}
	}
}

// stdLogger routes zmq4's log.Logger output to debug level.
func stdLogger(l hclog.Logger) *log.Logger {
	if l == nil {
		return log.New(io.Discard, "", 0)
	}
	return l.Named("zmq4").StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Debug})
}
