// Package controller is poold's control endpoint: a ZeroMQ ROUTER that
// receives JSON requests from DEALER or REQ clients (PROTOCOL.md section 1),
// hands each to a Handler, and sends the reply back with the framing the
// request used. Its client, for poolctl and tests, is package ctlclient.
//
// The socket goes through a zmqguard.Guard, so silent, flooding,
// non-reading or malformed peers cannot stall or crash it.
//
// Concurrency: Run owns everything it starts and returns only after all of
// it ended:
//
//	receiver ──▶ one FIFO per peer ──▶ peer runner ──reply──▶ sender ──▶ ROUTER
//	                                     └─ parking request: own goroutine ─▶┘
//
// One receiver goroutine calls Recv and appends each request to its
// peer's queue (a peer is one connection, by identity frame). One runner
// goroutine per peer with queued work serves its requests one at a time,
// so replies leave in the order the requests came; a request that parks
// its reply until work settles (arbiter.Parks: "waiting": true, upgrade)
// runs in its own goroutine beside the requests that follow it, at most
// MaxInFlightPerPeer per peer and MaxInFlight in all, beyond which the
// runner waits for one to end. A peer's queue is bounded
// (MaxQueuedPerPeer, maxQueuedBytesPerPeer): while it is full the
// receiver stops reading, which holds the peer back through TCP, and
// resumes as the runner makes room. Only when the runner cannot make room
// (it waits behind parked requests) or every queue together is full is a
// request refused, and the refusal is sent like any reply. One sender
// goroutine is the only caller of Send, because zmq4 sockets are not safe
// for concurrent sends; the guard makes Send non-blocking. Handlers get
// Run's context: when it is cancelled they should answer promptly; their
// replies, and those to requests still queued, are sent before the socket
// closes. Hold (hold.go) holds the endpoint for an upgrade's exec: it
// accepts no connection and tells when every request taken is answered.
//
// A Client is safe for concurrent use: one reader goroutine matches replies
// to calls by "id"; Close waits for it.
package controller

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/go-zeromq/zmq4"
	"github.com/hashicorp/go-hclog"

	"github.com/poold/poold/arbiter/wire"
	"github.com/poold/poold/events/zmqguard"
)

// Handler answers one raw request. send=false means no reply at all (a
// cast).
type Handler func(ctx context.Context, raw []byte) (reply []byte, send bool)

// Defaults for Controller's limits.
const (
	DefaultMaxInFlight        = 256
	DefaultMaxInFlightPerPeer = 32
	DefaultMaxQueuedPerPeer   = 1024
	DefaultMaxQueued          = 16384
)

// Controller serves the control endpoint. Set the exported fields before
// Run.
type Controller struct {
	// MaxInFlight bounds the parked requests (arbiter.Parks) running at
	// once over all connections; one beyond it waits in its peer's queue
	// (DefaultMaxInFlight).
	MaxInFlight int
	// MaxInFlightPerPeer bounds one connection's parked requests, so one
	// peer cannot take every slot (DefaultMaxInFlightPerPeer).
	MaxInFlightPerPeer int
	// MaxQueuedPerPeer bounds one connection's requests waiting for their
	// turn; at the bound poold stops reading until the peer's runner makes
	// room (DefaultMaxQueuedPerPeer).
	MaxQueuedPerPeer int
	// MaxQueued bounds the requests waiting over all connections; beyond
	// it a request gets errno 5 (DefaultMaxQueued).
	MaxQueued int
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
	refusals zmqguard.Throttle // refusal log lines, per uid
	// badHandshakes: handshake error log lines, for the whole endpoint
	badHandshakes zmqguard.Throttle
	// acceptFails throttles acceptError's lines; acceptLogged says the
	// last run of failed accepts was logged (owned by the accept loop).
	acceptFails  zmqguard.Throttle
	acceptLogged atomic.Bool

	started atomic.Bool
	ready   chan struct{}
	bound   string
	srv     atomic.Pointer[server] // while Run serves (hold.go)
}

// MaxUnreadPerConn and MaxUnread bound the reply bytes poold queues for
// clients that have not read them, per connection (past it, further
// replies to it are dropped; one reply alone may be larger) and for the
// endpoint (past it, the connection holding the most is closed).
const (
	MaxUnreadPerConn = 1 << 20
	MaxUnread        = 32 << 20
)

// MaxRequest is the largest control request poold reads, in bytes; a
// bigger one closes its connection (the request cannot be answered).
const MaxRequest = wire.MaxRequest

// New returns a Controller for endpoint ("ipc:///path" or "tcp://host:port").
// It does no I/O.
func New(endpoint string, h Handler, log hclog.Logger) *Controller {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	c := &Controller{
		MaxInFlight:        DefaultMaxInFlight,
		MaxInFlightPerPeer: DefaultMaxInFlightPerPeer,
		MaxQueuedPerPeer:   DefaultMaxQueuedPerPeer,
		MaxQueued:          DefaultMaxQueued,
		endpoint:           endpoint,
		handle:             h,
		log:                log,
		ready:              make(chan struct{}),
		badHandshakes:      zmqguard.Throttle{Every: HandshakeLogEvery},
	}
	c.Guard = zmqguard.New(zmqguard.Options{MaxFrame: MaxRequest, OnOversized: c.oversized,
		OnHandshakeError: c.handshakeError, OnAcceptError: c.acceptError, MaxBuffered: MaxUnreadPerConn, MaxUnflushed: MaxUnread, Name: "control"})
	return c
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
	// Every connection is tagged, so that the log line of a command that
	// changes something names its sender (and the ACL can check it).
	c.Guard = c.peerGuard(c.acl.Load())
	gep, err := c.Guard.Endpoint(c.endpoint)
	if err != nil {
		return fmt.Errorf("controller: %w", err)
	}
	sock := zmq4.NewRouter(context.Background(), zmq4.WithLogger(stdLogger(c.log)))
	how := "control endpoint bound"
	if zmqguard.HandedOver(c.endpoint) {
		how = "control endpoint taken over from the previous image"
	}
	if err := sock.Listen(gep); err != nil {
		sock.Close()
		return zmqguard.BindError("arbiter.endpoint", c.endpoint, err)
	}
	c.bound = c.endpoint
	if a := sock.Addr(); a != nil && a.Network() == "tcp" {
		c.bound = "tcp://" + a.String()
	}
	close(c.ready)
	c.log.Info(how, "endpoint", c.bound)

	s := newServer(c, ctx, sock)
	c.setRunning(s)
	defer c.setRunning(nil)
	var bg sync.WaitGroup
	bg.Add(2)
	go func() { defer bg.Done(); s.sendLoop() }()
	go func() { defer bg.Done(); s.recvLoop() }()

	<-ctx.Done()
	// 1. No new requests: the receiver refuses them (and wakes if it
	// waited for room).
	s.mu.Lock()
	s.stopping = true
	s.cond.Broadcast()
	s.mu.Unlock()
	// 2. Runners serve what is queued and parked requests end; handlers
	// see ctx cancelled and answer promptly. The sender is still
	// running, so every reply goes out.
	s.handlers.Wait()
	// 3. The sender sends what is queued and exits.
	close(s.flush)
	<-s.senderDone
	// 4. Close the socket (each conn flushes for the guard's Linger); the
	// receiver's Recv fails and it exits.
	s.closed.Store(true)
	err = sock.Close()
	bg.Wait()
	g := c.Guard.Stats()
	c.log.Info("control endpoint closed", "endpoint", c.bound, "clients_open", g.Conns,
		"handshake_timeouts", g.HandshakeTimeouts, "handshake_errors", g.HandshakeErrors,
		"handshakes_abandoned", g.HandshakesAbandoned,
		"oversized", g.Oversized, "replies_dropped", g.Dropped, "clients_evicted", g.Evicted)
	if err != nil && !errors.Is(err, net.ErrClosed) {
		c.log.Debug("closing control socket", "error", err)
	}
	return nil
}

// stdLogger routes zmq4's log.Logger output to debug level.
func stdLogger(l hclog.Logger) *log.Logger {
	if l == nil {
		return log.New(io.Discard, "", 0)
	}
	return l.Named("zmq4").StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Debug})
}
