package zmqpub

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-zeromq/zmq4"
	"github.com/hashicorp/go-hclog"

	"github.com/poold/poold/events"
	"github.com/poold/poold/events/zmqguard"
)

// Defaults for a Publisher.
const (
	// DefaultHWM bounds zmq4's PUB queue, between Send and the per-peer
	// buffers, in messages (libzmq's default SNDHWM is 1000), so its
	// memory is at most DefaultHWM times the largest message. zmq4 drops
	// beyond it without a count: under a sustained flood zmq4's sender
	// goroutine is slower than Run, and this is the one loss no counter
	// sees (subscribers still see the gap in seq). Bursts below it, such
	// as a stats tick, pass whole.
	DefaultHWM = 1024
	// DefaultReportInterval is how often, at most, loss counters are
	// logged.
	DefaultReportInterval = time.Minute
	// DefaultMaxFrame caps inbound frames: subscribers only send
	// subscriptions, which are short topic prefixes.
	DefaultMaxFrame = 64 << 10
	// flushGrace is how long Run waits, at shutdown, after handing the
	// last event to zmq4 before closing the socket, so zmq4's sender
	// goroutine (which cannot be observed) has moved it into the per-peer
	// buffers; the guard then flushes those for up to its Linger.
	flushGrace = 50 * time.Millisecond
	// DefaultPeerWait bounds how long the first events of a new image
	// wait, after an in-place upgrade, for the previous image's
	// subscribers to come back (libzmq reconnects after 100 ms).
	DefaultPeerWait = 2 * time.Second
)

// Publisher publishes the events of one bus on one PUB socket.
type Publisher struct {
	endpoint string
	key      string
	bus      *events.Bus
	log      hclog.Logger
	queue    int
	hwm      int
	report   time.Duration
	peerWait time.Duration
	guard    *zmqguard.Guard
	unheard  atomic.Uint64     // events skipped because no subscriber was connected
	closedQ  zmqguard.Throttle // subscriberClosed's lines, per peer
	holding  atomic.Bool       // awaitPeers holds the events
	gopts    zmqguard.Options
	flushReq chan chan struct{} // Flush asks Run to send what is queued

	started   atomic.Bool
	ready     chan struct{}
	bound     atomic.Pointer[string]
	sub       atomic.Pointer[events.Subscription]
	published atomic.Uint64
}

// Option configures a Publisher.
type Option func(*Publisher)

// WithQueue sets the length of the bus subscription queue
// (events.DefaultQueue when n <= 0).
func WithQueue(n int) Option { return func(p *Publisher) { p.queue = n } }

// WithHWM sets zmq4's PUB high-water mark in messages (DefaultHWM when
// n <= 0).
func WithHWM(n int) Option {
	return func(p *Publisher) {
		if n > 0 {
			p.hwm = n
		}
	}
}

// WithReportInterval sets how often, at most, growing loss counters are
// logged at warn (DefaultReportInterval when d <= 0).
func WithReportInterval(d time.Duration) Option {
	return func(p *Publisher) {
		if d > 0 {
			p.report = d
		}
	}
}

// WithGuardOptions tunes the Publisher's transport guard. A zero
// MaxFrame becomes DefaultMaxFrame; other zero fields take zmqguard's
// defaults.
func WithGuardOptions(o zmqguard.Options) Option {
	return func(p *Publisher) { p.gopts = o }
}

// WithConfigKey names the config key the endpoint came from, for error
// messages ("arbiter.pubsub_endpoint" when not set; "arbiter.stats_endpoint" for the
// stats stream).
func WithConfigKey(key string) Option {
	return func(p *Publisher) {
		if key != "" {
			p.key = key
		}
	}
}

// WithPeerWait bounds the wait for the previous image's subscribers
// after an upgrade (DefaultPeerWait when d <= 0).
func WithPeerWait(d time.Duration) Option {
	return func(p *Publisher) {
		if d > 0 {
			p.peerWait = d
		}
	}
}

// New returns a Publisher for endpoint ("tcp://host:port" or
// "ipc:///path") fed by bus. It does no I/O; Run binds. log may be nil.
func New(endpoint string, bus *events.Bus, log hclog.Logger, opts ...Option) *Publisher {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	p := &Publisher{
		endpoint: endpoint,
		key:      "arbiter.pubsub_endpoint",
		bus:      bus,
		log:      log,
		hwm:      DefaultHWM,
		report:   DefaultReportInterval,
		peerWait: DefaultPeerWait,
		ready:    make(chan struct{}),
		flushReq: make(chan chan struct{}),
	}
	for _, o := range opts {
		o(p)
	}
	if p.gopts.MaxFrame <= 0 {
		p.gopts.MaxFrame = DefaultMaxFrame
	}
	if p.gopts.Name == "" {
		p.gopts.Name = p.key
	}
	if p.gopts.OnConnLimit == nil {
		p.gopts.OnConnLimit = p.subscriberClosed
	}
	// Each Publisher has its own guard, so its counters are its own.
	p.guard = zmqguard.New(p.gopts)
	return p
}

// Stats is a snapshot of a Publisher's counters.
type Stats struct {
	// Published counts events handed to zmq4.
	Published uint64
	// Dropped counts events lost in the bus queue because Run fell
	// behind the producer.
	Dropped uint64
	// Guard holds the transport's counters: per-peer drops, evictions,
	// failed handshakes, oversized frames, open connections.
	Guard zmqguard.Stats
}

// Dropped counts events lost in the bus queue (see Stats.Dropped).
func (p *Publisher) Dropped() uint64 {
	if s := p.sub.Load(); s != nil {
		return s.Dropped()
	}
	return 0
}

// Stats returns a snapshot of p's counters.
func (p *Publisher) Stats() Stats {
	return Stats{Published: p.published.Load(), Dropped: p.Dropped(), Guard: p.guard.Stats()}
}

// Ready is closed once Run has bound the socket.
func (p *Publisher) Ready() <-chan struct{} { return p.ready }

// Endpoint is the bound endpoint once Ready is closed ("tcp://..." with
// the real port when the configured one was 0), "" before.
func (p *Publisher) Endpoint() string {
	if s := p.bound.Load(); s != nil {
		return *s
	}
	return ""
}

// Run binds the PUB socket and publishes every event of the bus until ctx
// ends, then unsubscribes, hands what is still queued to the socket,
// closes it and returns nil. It returns an error, without publishing, if
// the endpoint cannot be bound. Run may be called once.
func (p *Publisher) Run(ctx context.Context) error {
	if !p.started.CompareAndSwap(false, true) {
		return fmt.Errorf("zmqpub: %s %s: Run called twice", p.key, p.endpoint)
	}
	gep, err := p.guard.Endpoint(p.endpoint)
	if err != nil {
		return fmt.Errorf("zmqpub: %s: %w", p.key, err)
	}

	// The socket outlives ctx by the shutdown flush; Close ends it.
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	pub := zmq4.NewPub(sctx, zmq4.WithLogger(p.log.StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Debug})))
	if err := pub.SetOption(zmq4.OptionHWM, p.hwm); err != nil {
		pub.Close()
		return fmt.Errorf("zmqpub: %s %s: set high-water mark: %w", p.key, p.endpoint, err)
	}
	how := "publishing" // the logger's name says what: events or stats
	if zmqguard.HandedOver(p.endpoint) {
		how = "publishing on the endpoint taken over from the previous image"
	}
	if err := pub.Listen(gep); err != nil {
		pub.Close()
		return p.bindError(err)
	}

	sub := p.bus.Subscribe(p.queue)
	p.sub.Store(sub)
	bound := boundEndpoint(p.endpoint, pub.Addr())
	p.bound.Store(&bound)
	close(p.ready)
	p.log.Info(how, "endpoint", bound)
	out := &sender{p: p, pub: pub}
	if done := p.awaitPeers(ctx, zmqguard.ExpectedPeers(p.endpoint)); done != nil {
		out.flush(sub, done)
	}

	ticker := time.NewTicker(p.report)
	defer ticker.Stop()
	var last Stats
	lag := map[uint64]uint64{}
	for {
		select {
		case ev := <-sub.C():
			out.send(ev)
		case done := <-p.flushReq:
			out.flush(sub, done)
		case <-ticker.C:
			last = p.reportLoss(last)
			lag = p.reportLag(lag)
		case <-ctx.Done():
			sub.Close()
			for ev := range sub.C() {
				out.send(ev)
			}
			out.settle()
			if err := pub.Close(); err != nil {
				p.log.Debug("closing socket", "endpoint", bound, "error", err)
			}
			p.reportLoss(last)
			return nil
		}
	}
}

// sender hands events to Run's socket.
type sender struct {
	p        *Publisher
	pub      zmq4.Socket
	lastSend time.Time
}

func (s *sender) send(ev events.Event) {
	if s.p.guard.Stats().Conns == 0 {
		// Nobody is connected: a PUB would drop it anyway; skip the
		// encoding (the stats stream publishes every second).
		s.p.unheard.Add(1)
		return
	}
	// Send only queues (bounded by the HWM); it fails only once the
	// socket is closed, which Run does after the last Send.
	_ = s.pub.Send(zmq4.NewMsgFrom([]byte(ev.Topic), ev.MarshalPayload()))
	s.p.published.Add(1)
	s.lastSend = time.Now()
}

// settle gives zmq4's sender goroutine, which cannot be observed,
// flushGrace after the last Send to move it into the per-peer buffers.
func (s *sender) settle() {
	if wait := flushGrace - time.Since(s.lastSend); !s.lastSend.IsZero() && wait > 0 {
		t := time.NewTimer(wait)
		<-t.C
	}
}

// flush sends what sub has queued, settles and closes done (Flush).
func (s *sender) flush(sub *events.Subscription, done chan struct{}) {
	for more := true; more; {
		select {
		case ev := <-sub.C():
			s.send(ev)
		default:
			more = false
		}
	}
	s.settle()
	close(done)
}

// Flush hands the socket every event queued for it, those an upgrade's
// wait for returning subscribers holds included (that wait then ends),
// and returns once zmq4 had flushGrace to pass them on, or ctx ended.
// The in-place upgrade calls it just before the exec: without it, an
// image upgraded again within that wait took its first events with it
// into the exec (arbiter.upgrade among them), and a plain ZeroMQ
// subscriber saw a gap in seq.
func (p *Publisher) Flush(ctx context.Context) {
	if !p.started.Load() {
		return
	}
	done := make(chan struct{})
	select {
	case p.flushReq <- done:
	case <-ctx.Done():
		return
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// awaitPeers holds the events (the bus queues them) until n subscribers
// have connected and subscribed, at most peerWait or until ctx ends. n is
// how many the previous image had when it handed the endpoint over in an
// upgrade: their connections closed in the exec and libzmq reconnects
// them by itself, but a PUB drops what it sends before a subscription
// arrives, so without the wait a Circus plugin or a plain pyzmq
// subscriber lost the new image's first events (arbiter.upgrade, and the
// exits of workers that ended meanwhile).
//
// A Flush meanwhile ends the wait; awaitPeers returns its request, for
// Run to answer once it has sent the events.
func (p *Publisher) awaitPeers(ctx context.Context, n int64) chan struct{} {
	if n <= 0 {
		return nil
	}
	p.holding.Store(true)
	defer p.holding.Store(false)
	t := time.NewTimer(p.peerWait)
	defer t.Stop()
	for p.guard.Spoke() < n {
		select {
		case <-p.guard.SpokeC():
		case done := <-p.flushReq:
			p.log.Info("upgrade: publishing at once, before another exec, without waiting longer for the previous image's subscribers",
				"endpoint", p.endpoint, "expected", n, "back", p.guard.Spoke())
			return done
		case <-t.C:
			p.log.Info("upgrade: publishing without waiting longer for the previous image's subscribers",
				"endpoint", p.endpoint, "expected", n, "back", p.guard.Spoke(), "waited", p.peerWait)
			return nil
		case <-ctx.Done():
			return nil
		}
	}
	p.log.Debug("upgrade: the previous image's subscribers are back", "endpoint", p.endpoint, "subscribers", n)
	return nil
}

// reportLoss logs at warn when any loss counter grew since prev, and
// returns the new snapshot.
func (p *Publisher) reportLoss(prev Stats) Stats {
	cur := p.Stats()
	g, pg := cur.Guard, prev.Guard
	if cur.Dropped == prev.Dropped && g.Dropped == pg.Dropped && g.Evicted == pg.Evicted &&
		g.HandshakeTimeouts == pg.HandshakeTimeouts && g.HandshakeErrors == pg.HandshakeErrors &&
		g.Oversized == pg.Oversized {
		return cur
	}
	p.log.Warn("subscribers lost events or were disconnected",
		"endpoint", p.Endpoint(),
		"queue_dropped", cur.Dropped-prev.Dropped,
		"peer_dropped", g.Dropped-pg.Dropped,
		"evicted", g.Evicted-pg.Evicted,
		"handshake_timeouts", g.HandshakeTimeouts-pg.HandshakeTimeouts,
		"handshake_errors", g.HandshakeErrors-pg.HandshakeErrors,
		"oversized", g.Oversized-pg.Oversized,
		"subscribers", g.Conns,
		"published_total", cur.Published,
	)
	return cur
}

// bindError names the endpoint and says what to do.
func (p *Publisher) bindError(err error) error {
	return zmqguard.BindError(p.key, p.endpoint, err)
}

// boundEndpoint is the user-facing endpoint of a bound socket: tcp gets
// the real address (port 0 resolved), ipc stays as configured.
func boundEndpoint(configured string, addr net.Addr) string {
	if strings.HasPrefix(configured, "tcp://") && addr != nil {
		return "tcp://" + addr.String()
	}
	return configured
}

// subscriberClosed logs a subscriber the guard closed to make room for
// another connection (zmqguard.Options.OnConnLimit), once a minute per
// peer: on tcp anyone who can reach the port can crowd an address's
// subscribers out, and a subscriber that reconnects loses what was
// published meanwhile.
func (p *Publisher) subscriberClosed(peer, bound string, limit int) {
	ok, suppressed := p.closedQ.Allow(peer)
	if !ok {
		return
	}
	p.log.Warn("subscriber closed to make room for other connections; it loses what is published until it reconnects. "+
		"If many connections from this peer are not subscribers you run, find what holds them (ss -tnp, or ss -xp for ipc)",
		"endpoint", p.endpoint, "peer", peer, "bound", bound, "limit", limit, "suppressed", suppressed)
}
