// Package zmqguard is a guarded ZeroMQ transport for go-zeromq/zmq4: it
// wraps the net.Listener and net.Conn that zmq4 uses so that no peer can
// stall, flood or crash a zmq4 socket.
//
// zmq4 v0.17.0 blocks its accept loop on a silent peer, blocks every send on
// a peer that stops reading, queues without bound, and panics on a frame
// header that claims a huge size or on a truncated READY command. The guard
// neutralises each of these below zmq4:
//
//   - Handshake off the accept loop: every accepted connection gets its own
//     goroutine that sends the greeting and reads the peer's greeting and
//     READY command within Options.HandshakeTimeout. Only completed
//     connections reach zmq4's Accept; the bytes read are replayed to it and
//     zmq4's own greeting is swallowed (it was already sent). Silent or
//     malformed peers are closed and counted.
//   - A crowd of silent connections cannot lock a client out: pending
//     handshakes are bounded per peer (uid on ipc, address on tcp) and per
//     Guard, and a new connection is never refused for lack of room;
//     instead the oldest silent handshake of the peer holding the most is
//     closed (see pendingSet).
//   - Writes never block the caller: each connection has a bounded outgoing
//     buffer (Options.MaxBuffered) drained by its own writer goroutine. When
//     the buffer is full, whole messages are dropped for that peer (never
//     part of one) and counted, as libzmq does at its high-water mark. A
//     peer that takes no byte for Options.StallTimeout is evicted (closed);
//     the messages still buffered for it, or for any peer whose connection
//     ends, are counted as dropped too (Stats.Discarded).
//   - Quiet connections of a peer the owner serves nothing
//     (Options.IdleTimeout) are closed once nothing is owed to them;
//     other peers' are never closed for being quiet.
//   - Inbound frames are parsed as they arrive; a frame or multipart
//     message larger than Options.MaxFrame closes the connection before
//     zmq4 allocates anything.
//   - Peer identity (Options.TagPeers): zmq4 hides which connection a
//     ROUTER message came on (its identity frame is whatever the client
//     put in its READY command, or a random one) and never exposes the
//     connection's fd. The guard, which sees the READY command before
//     zmq4 does, replaces its Identity property with one of its own and
//     records the connection's SO_PEERCRED credentials under it;
//     Guard.Peer maps a message's identity frame back to them.
//   - ipc: a stale socket file (nobody accepts) is removed before listening;
//     a live one is an error; the socket file is made 0600.
//   - In-place upgrade: Listening lists the listeners' fds for the next
//     image of poold, which gives each back with Inherit; Listen then
//     takes it for its address instead of binding (see inherit.go).
//
// Usage: map an endpoint and hand it to zmq4.
//
//	ep, err := zmqguard.Endpoint("tcp://127.0.0.1:5555") // "gtcp://127.0.0.1:5555"
//	err = pub.Listen(ep)
//
// Only the NULL security mechanism is supported.
//
// Concurrency: a Guard is safe for concurrent use and lives for the
// process (zmq4 has no way to unregister a transport). Every listener owns
// its acceptor and handshake goroutines and waits for them in Close. Every
// connection owns one writer goroutine and waits for it in Close; Close
// first flushes what is buffered for at most Options.Linger. A connection
// that zmq4 abandons after a failed handshake closes itself within
// Options.HandshakeTimeout.
package zmqguard

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zeromq/zmq4"
	"github.com/go-zeromq/zmq4/transport"
)

// Options tune a Guard. Zero fields take the defaults shown.
type Options struct {
	// HandshakeTimeout bounds connect + ZMTP greeting + READY (5s).
	HandshakeTimeout time.Duration
	// MaxFrame caps one inbound frame and one inbound multipart message,
	// in bytes (1 MiB).
	MaxFrame int64
	// MaxBuffered caps the bytes queued for one peer before its messages
	// are dropped (4 MiB). A single message may overshoot it; a peer whose
	// queue of more than one message reaches twice this is evicted.
	MaxBuffered int
	// StallTimeout evicts a peer that accepts no byte for this long while
	// data is waiting for it (10s).
	StallTimeout time.Duration
	// Linger bounds how long Close keeps flushing buffered data (500ms).
	// zmq4 closes a socket's conns one after another, so each peer that
	// is not reading adds up to Linger to the socket's Close.
	Linger time.Duration
	// MaxHandshakes bounds concurrent handshakes per Guard (256). At the
	// bound a new connection is still accepted: the peer with the most
	// pending handshakes loses its oldest silent one.
	MaxHandshakes int
	// MaxHandshakesPerPeer bounds one peer's concurrent handshakes (64);
	// at the bound its own oldest silent one makes room. A peer is a uid
	// for ipc (SO_PEERCRED), an address for tcp (a /64 for IPv6).
	MaxHandshakesPerPeer int
	// MaxConns bounds the completed connections a Guard holds (handshake
	// done, or handed over at an upgrade): a quarter of RLIMIT_NOFILE, 64
	// to 4096. At the bound a newcomer is still taken: the peer holding
	// the most loses its connection quiet the longest (see heldSet).
	MaxConns int
	// MaxConnsPerPeer bounds one peer's completed connections (a quarter
	// of MaxConns, at least 16); at the bound its own connection quiet
	// the longest makes room.
	MaxConnsPerPeer int
	// FreshFor spares a connection that has sent nothing since its
	// handshake, for this long, when one of its peer's must make room
	// (1s): a client sends its request right after its handshake.
	FreshFor time.Duration
	// ConnLimit, if set, gives a peer's own bound in place of
	// MaxConnsPerPeer: -1 for none (MaxConns alone), 0 for
	// MaxConnsPerPeer. It runs as each connection completes its handshake
	// and must not block. Default: none for poold's own uid and root on
	// ipc, MaxConnsPerPeer for anyone else.
	ConnLimit func(Peer) int
	// IdleTimeout, if set, bounds how long a peer's completed connection
	// may go without sending a byte (since its handshake or its last
	// request) once every request of it is answered and nothing is
	// queued for it: past it, the connection is closed (Stats.
	// IdleClosed). 0: no bound, the default (a client may keep a quiet
	// connection for as long as it likes). It runs as each connection
	// completes its handshake, and again when the bound is reached (0
	// then keeps the connection), and must not block.
	IdleTimeout func(Peer) time.Duration
	// OnConnLimit, if set, is told of each connection closed to make
	// room or to free memory: its peer, the bound reached ("peer",
	// "total", "budget" in connections, "unread" in bytes) and its
	// value. It must not block.
	OnConnLimit func(peer, bound string, limit int)
	// Budget is the bound this Guard's completed server connections
	// share with the process's other listeners (SharedBudget: half of
	// RLIMIT_NOFILE for them all). Name names the Guard in it ("control").
	Budget *Budget
	Name   string
	// MaxUnflushed caps the bytes queued for all of the Guard's peers
	// and not yet taken by them (64 MiB): past it, the connection of the
	// peer with the most queued is closed (OnConnLimit, bound "unread").
	MaxUnflushed int64
	// UnreadGrace is how long a connection with bytes queued may go
	// without its writer moving one before it counts as not reading, for
	// MaxUnflushed (1s).
	UnreadGrace time.Duration
	// TagPeers gives every accepted connection an identity of the
	// guard's own (replacing any Identity the peer sent in its READY
	// command), so a ROUTER's identity frame names the connection and
	// Guard.Peer tells who is behind it (SO_PEERCRED on ipc).
	TagPeers bool
	// SocketMode is the ipc socket file's mode (0600). Widen it only
	// when something else checks the peer (TagPeers and an allow-list).
	SocketMode os.FileMode
	// OnOversized, if set, is told of each connection closed for a frame
	// or message over MaxFrame, so the owner can log what the closed peer
	// cannot be told: key is the peer's budget key ("uid:N" for ipc,
	// "ip:A" for tcp), p the peer itself (its tcp address and port, or
	// its ipc credentials), as for OnHandshakeError. It runs on the
	// connection's goroutine and must not block.
	OnOversized func(key string, p Peer)
	// OnHandshakeError, if set, is told of each accepted connection
	// closed for a malformed handshake or frame (Stats.HandshakeErrors),
	// whose peer hung up in the middle of its handshake
	// (Stats.HandshakesAbandoned), or that did not complete it within
	// HandshakeTimeout (Stats.HandshakeTimeouts), so the owner can log it
	// (rate-limited: anyone who can reach a tcp port can make many). key
	// is the peer's budget key (as in OnOversized), p the peer itself (its
	// tcp address and port, or its ipc credentials); err wraps
	// ErrNotZMTP, ErrUnsupportedGreeting, ErrClosedInHandshake or
	// ErrHandshakeTimeout when it is one of those. It runs on the
	// connection's goroutine and must not block.
	OnHandshakeError func(key string, p Peer, err error)
	// OnAcceptError, if set, is told when accepting connections starts
	// to fail (err: EMFILE when the process's open-file limit is used
	// up, ENFILE when the system's is), once per run of failures, and
	// when a connection is accepted again after such a run (err nil,
	// failed: how many accepts failed in it). Meanwhile new clients wait
	// in the listen backlog, retried with a backoff up to 1s. It runs on
	// the accept loop's goroutine and must not block.
	OnAcceptError func(err error, failed int)
}

func (o Options) withDefaults() Options {
	if o.HandshakeTimeout <= 0 {
		o.HandshakeTimeout = 5 * time.Second
	}
	if o.MaxFrame <= 0 {
		o.MaxFrame = 1 << 20
	}
	if o.MaxBuffered <= 0 {
		o.MaxBuffered = 4 << 20
	}
	if o.StallTimeout <= 0 {
		o.StallTimeout = 10 * time.Second
	}
	if o.Linger <= 0 {
		o.Linger = 500 * time.Millisecond
	}
	if o.MaxHandshakes <= 0 {
		o.MaxHandshakes = 256
	}
	if o.MaxHandshakesPerPeer <= 0 {
		o.MaxHandshakesPerPeer = 64
	}
	if o.MaxConns <= 0 {
		o.MaxConns = connCap()
	}
	if o.MaxConnsPerPeer <= 0 {
		o.MaxConnsPerPeer = max(o.MaxConns/4, 16)
	}
	if o.ConnLimit == nil {
		o.ConnLimit = defaultConnLimit
	}
	if o.Budget == nil {
		o.Budget = SharedBudget
	}
	if o.Name == "" {
		o.Name = "zmq"
	}
	if o.FreshFor <= 0 {
		o.FreshFor = time.Second
	}
	if o.MaxUnflushed <= 0 {
		o.MaxUnflushed = 64 << 20
	}
	if o.UnreadGrace <= 0 {
		o.UnreadGrace = time.Second
	}
	if o.SocketMode == 0 {
		o.SocketMode = 0o600
	}
	return o
}

// Stats is a snapshot of a Guard's counters.
type Stats struct {
	Conns             int64  // guarded connections open now
	Handshaking       int64  // accepted connections still in their handshake
	HandshakeTimeouts uint64 // peers closed for not completing the handshake in time
	HandshakeErrors   uint64 // peers closed for a malformed handshake
	// HandshakesAbandoned counts peers that began a valid greeting and
	// then closed before finishing the handshake: a client that gave up
	// or exited. Nothing was malformed, and nothing was lost.
	HandshakesAbandoned uint64
	// Probes counts peers that connected and closed without a byte: a
	// TCP health check (a kubelet tcpSocket probe, a load balancer), a
	// port scan, poold checking whether an endpoint is in use. No
	// subscriber or client lost anything, so it is no handshake error.
	Probes            uint64
	HandshakesEvicted uint64 // pending handshakes closed to make room for a newer connection
	Oversized         uint64 // peers closed for a frame or message over MaxFrame (OnOversized)
	// Dropped counts outgoing messages a peer never got from the guard:
	// refused while its buffer was full, or still buffered (whole or in
	// part) when its connection ended: evicted, closed by the peer, or
	// Close's Linger over (Discarded). Bytes already in the kernel's
	// socket buffers are not counted: the peer gets them if it reads
	// them after the close, and a peer that never reads loses them
	// uncounted (up to the buffers' size, a few MiB on tcp).
	Dropped   uint64
	Discarded uint64 // of Dropped, those still buffered when their connection ended
	Evicted   uint64 // peers closed because they stopped taking data, or held the most at MaxUnflushed
	// ConnsEvicted counts completed connections closed to make room at
	// MaxConns, a peer's bound or the Budget.
	ConnsEvicted uint64
	// IdleClosed counts completed connections closed for saying nothing
	// for Options.IdleTimeout.
	IdleClosed uint64
	// ConnsByPeer counts the completed connections held per peer (as
	// PendingByPeer names them); peers with none are absent.
	ConnsByPeer map[string]int
	// PendingByPeer counts handshakes in progress per peer ("uid:0",
	// "ip:127.0.0.1", "ip:2001:db8::/64"); peers with none are absent.
	PendingByPeer map[string]int
}

// Guard is one guarded transport, registered with zmq4 under its own
// scheme names.
type Guard struct {
	opts      Options
	tcpScheme string
	ipcScheme string

	once   sync.Once
	regErr error

	pending *pendingSet
	held    *heldSet
	peers   peerTable

	conns             atomic.Int64
	frozen            frozenSet
	delivered         atomic.Uint64 // whole messages passed to zmq4 (freeze.go)
	unflushed         atomic.Int64  // bytes queued to every conn, not written yet
	unread            unreadState
	lastRead          atomic.Int64 // unix ns: bytes last read from an accepted conn
	spoke             atomic.Int64
	spokeC            chan struct{}
	handshakeTimeouts atomic.Uint64
	handshakeErrors   atomic.Uint64
	probes            atomic.Uint64
	abandoned         atomic.Uint64
	handshakesEvicted atomic.Uint64
	oversized         atomic.Uint64
	dropped           atomic.Uint64
	discarded         atomic.Uint64
	evicted           atomic.Uint64
	connsEvicted      atomic.Uint64
	idleClosed        atomic.Uint64
}

var guardSeq atomic.Uint64

// Default is the Guard with default options, under schemes "gtcp" and
// "gipc".
var Default = newGuard(Options{}, "gtcp", "gipc")

// New returns a Guard with its own options, counters and scheme names. It
// does no I/O; registration with zmq4 happens on the first Endpoint call.
func New(o Options) *Guard {
	n := guardSeq.Add(1)
	return newGuard(o, fmt.Sprintf("gtcp%d", n), fmt.Sprintf("gipc%d", n))
}

func newGuard(o Options, tcp, ipc string) *Guard {
	o = o.withDefaults()
	g := &Guard{opts: o, tcpScheme: tcp, ipcScheme: ipc, pending: newPendingSet(o.MaxHandshakes, o.MaxHandshakesPerPeer),
		held:   newHeldSet(o.MaxConns, o.MaxConnsPerPeer),
		spokeC: make(chan struct{}, 1)}
	g.held.freshFor = int64(o.FreshFor)
	g.held.budget = o.Budget.Join(o.Name, g.shed)
	return g
}

// Endpoint maps ep with Default; see Guard.Endpoint.
func Endpoint(ep string) (string, error) { return Default.Endpoint(ep) }

// Endpoint maps a user endpoint ("tcp://host:port" or "ipc:///path") to
// the same address under g's scheme, registering g with zmq4 on first use.
// An endpoint already under g's scheme is returned unchanged.
func (g *Guard) Endpoint(ep string) (string, error) {
	g.once.Do(func() {
		if err := zmq4.RegisterTransport(g.tcpScheme, &trans{g: g, network: "tcp"}); err != nil {
			g.regErr = err
			return
		}
		g.regErr = zmq4.RegisterTransport(g.ipcScheme, &trans{g: g, network: "unix"})
	})
	if g.regErr != nil {
		return "", fmt.Errorf("zmqguard: register transport: %w", g.regErr)
	}
	scheme, addr, ok := strings.Cut(ep, "://")
	if !ok {
		return "", fmt.Errorf("endpoint %q: want tcp://host:port or ipc:///path", ep)
	}
	switch scheme {
	case "tcp", g.tcpScheme:
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return "", fmt.Errorf("endpoint %q: %v; want tcp://host:port", ep, err)
		}
		return g.tcpScheme + "://" + addr, nil
	case "ipc", g.ipcScheme:
		if addr == "" {
			return "", fmt.Errorf("endpoint %q: empty socket path; want ipc:///path", ep)
		}
		return g.ipcScheme + "://" + addr, nil
	default:
		return "", fmt.Errorf("endpoint %q: transport %q is not supported; use tcp:// or ipc://", ep, scheme)
	}
}

// oversize counts a connection closed for a frame over MaxFrame and tells
// OnOversized.
func (g *Guard) oversize(rc net.Conn) {
	g.oversized.Add(1)
	if f := g.opts.OnOversized; f != nil {
		f(peerOf(rc), peerInfo(rc))
	}
}

// Stats returns a snapshot of g's counters.
func (g *Guard) Stats() Stats {
	n, byPeer := g.pending.counts()
	_, held := g.held.counts()
	return Stats{
		Conns:               g.conns.Load(),
		Handshaking:         int64(n),
		HandshakeTimeouts:   g.handshakeTimeouts.Load(),
		HandshakeErrors:     g.handshakeErrors.Load(),
		Probes:              g.probes.Load(),
		HandshakesAbandoned: g.abandoned.Load(),
		HandshakesEvicted:   g.handshakesEvicted.Load(),
		Oversized:           g.oversized.Load(),
		Dropped:             g.dropped.Load(),
		Discarded:           g.discarded.Load(),
		Evicted:             g.evicted.Load(),
		ConnsEvicted:        g.connsEvicted.Load(),
		IdleClosed:          g.idleClosed.Load(),
		ConnsByPeer:         held,
		PendingByPeer:       byPeer,
	}
}

// noteSpoke counts an accepted conn whose peer sent its first frame
// after the handshake, and wakes a SpokeC reader.
func (g *Guard) noteSpoke() {
	g.spoke.Add(1)
	select {
	case g.spokeC <- struct{}{}:
	default:
	}
}

// Spoke counts the accepted connections whose peer has sent a frame after
// its handshake: on a PUB, the subscribers that have subscribed (closed
// ones included).
func (g *Guard) Spoke() int64 { return g.spoke.Load() }

// SpokeC receives after Spoke grew (several growths may share one).
func (g *Guard) SpokeC() <-chan struct{} { return g.spokeC }

// Unflushed is how many bytes g's connections have queued and not yet
// written to their sockets (or dropped with a connection that ended).
func (g *Guard) Unflushed() int64 { return g.unflushed.Load() }

// LastRead is when bytes were last read from a connection g accepted
// (zero before any): a message read is on its way to the zmq4 socket's
// Recv from then.
func (g *Guard) LastRead() time.Time {
	if ns := g.lastRead.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// Options returns g's effective options.
func (g *Guard) Options() Options { return g.opts }

// trans implements zmq4's transport.Transport for one network.
type trans struct {
	g       *Guard
	network string // "tcp" or "unix"
}

var _ transport.Transport = (*trans)(nil)

// Addr turns the part after "://" into a dialable / listenable address.
func (t *trans) Addr(ep string) (string, error) {
	if t.network == "unix" {
		if ep == "" {
			return "", fmt.Errorf("zmqguard: empty ipc path")
		}
		return ep, nil
	}
	host, port, err := net.SplitHostPort(ep)
	if err != nil {
		return "", fmt.Errorf("zmqguard: tcp address %q: %w", ep, err)
	}
	if port == "*" || port == "" {
		port = "0"
	}
	if host == "*" || host == "" {
		host = "0.0.0.0"
	}
	return net.JoinHostPort(host, port), nil
}

// Dial connects within HandshakeTimeout and returns a guarded client conn.
func (t *trans) Dial(ctx context.Context, d transport.Dialer, addr string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, t.g.opts.HandshakeTimeout)
	defer cancel()
	raw, err := d.DialContext(ctx, t.network, addr)
	if err != nil {
		return nil, err
	}
	return newDialConn(t.g, raw), nil
}

// Listen binds addr, or takes the listener inherited for it (see
// Inherit). ctx is the zmq4 socket's lifetime.
func (t *trans) Listen(ctx context.Context, addr string) (net.Listener, error) {
	raw := takeInherited(t.network, addr)
	if raw == nil {
		var err error
		if t.network == "unix" {
			raw, err = listenUnix(addr, t.g.opts.SocketMode)
		} else {
			raw, err = net.Listen("tcp", addr)
		}
		if err != nil {
			return nil, err
		}
	}
	l := newListener(ctx, t.g, raw, listenKey(t.network, addr))
	track(l, t.network, addr)
	l.resumeConns(takeInheritedConns(l.key))
	return l, nil
}
