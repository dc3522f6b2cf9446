// Package web serves poold's live console: one embedded page and a websocket
// that streams poold's state to it and carries the user's actions back.
//
// Data flow:
//
//	events bus ─┐                     ┌─ client queue ─ writer ─ websocket
//	stats bus  ─┼─ hub (one goroutine)┼─ client queue ─ writer ─ websocket
//	refresher ──┘    owns the model   └─ ...
//	   ▲ Backend.Do (status/options/stats/listsockets/dstats)
//	   └──────────── asked by the hub, answers posted back
//
//	websocket reader (the HTTP handler goroutine) ─ one goroutine per action
//	   (a bounded number at once) ─ Backend.Do(action) ─ reply into its own
//	   client queue
//
// The same listener serves the control API (api.go: /api/v1/COMMAND and
// an SSE event stream, bearer tokens with roles, optionally over TLS) and
// feeds the consoles' fleet view (fleet.go: other hosts' APIs, followed
// by one goroutine each).
//
// Concurrency contract: Server.Serve owns every goroutine it starts and
// returns only after all of them ended. The hub goroutine alone owns the
// model (watchers, sockets, history, recent events) and the set of clients;
// everything else talks to it over channels and never blocks on it for
// long (each send also selects on the hub's end). The hub never blocks on a
// client: each client has a bounded queue, and a client whose queue is full
// is disconnected. Each websocket has exactly one writer goroutine; its
// reader is the HTTP handler goroutine, which waits for the writer before it
// returns. Messages are encoded once per broadcast (websocket.PreparedMessage)
// and shared by every client. Backend calls run off the hub, in the refresher
// goroutine (model refreshes, a few calls at once from goroutines it waits
// for, each call within its own timeout: load.go) or in a goroutine the
// client's reader starts for each action and waits for before it returns.
package web

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
)

// Backend answers control requests: the same command set as poolctl uses.
// It must be safe for concurrent use.
type Backend interface {
	Do(ctx context.Context, req arbiter.Request) arbiter.Reply
}

// stopper is a Backend that says when it has stopped answering for good
// (the arbiter, whose loop has ended as poold stops): a refresh refused
// then is no failure worth a warning.
type stopper interface {
	Stopped() <-chan struct{}
}

// Options configure a Server.
type Options struct {
	Config  configs.Web
	Backend Backend
	// Budget, if set, bounds the console's connections together with
	// poold's other listeners' (connlimit.go).
	Budget ConnBudget
	// Events carries lifecycle events (watcher.<name>.<kind>,
	// arbiter.<kind>). May be nil: the console then refreshes only on
	// actions and on its periodic resync.
	Events *events.Bus
	// Stats carries sampler output (stat.<watcher>.<pid>, stat.<watcher>,
	// stat.poold.<pid>). May be nil: no live CPU/RSS.
	Stats *events.Bus
	Log   hclog.Logger
	// Metrics serves GET /metrics on the console's listener, behind the
	// same Host and token checks as the console. Nil: no /metrics.
	Metrics http.Handler
	// Health answers GET /healthz and /readyz on the console's listener,
	// behind the same checks. Nil: no probes.
	Health Health
	// TLS, when set, makes the listener speak HTTPS only (web.tls_cert).
	TLS *tls.Config
	// CookieKey signs the console's cookies (cookie.go): the metrics
	// listener of the same poold is given the same one, and an upgrade's
	// new image the old one's (HandedOverCookieKey). Nil: New draws one.
	CookieKey *CookieKey
	// Streams are extra GET /api/v1/NAME streams behind the API's
	// authentication (e.g. a future "logs"); "events" is built in.
	Streams map[string]StreamHandler
	// Replies bounds the big replies held while their clients read
	// them (replycap.go), shared with ProbeOptions.Replies. Nil: one of
	// the defaults' for this listener alone.
	Replies *ReplyBudget
}

// Failed API authentications: apiFailBurst per client address, then
// one more per apiFailDecay.
const (
	apiFailBurst = 5
	apiFailDecay = 2 * time.Second
)

// Server is the web console. Build it with New, run it with Run or Serve.
type Server struct {
	opts    Options
	log     hclog.Logger
	addr    string
	tunings tunings

	access   atomic.Pointer[access]          // settings in force; replaced by Reconfigure
	cert     atomic.Pointer[tls.Certificate] // served with TLS; replaced by Reconfigure
	fails    *failLimiter                    // failed API authentications per client address
	quiet    *quietLog                       // refusals anyone can cause, logged once a while
	fleet    *fleet                          // other hosts the consoles watch
	reconfMu sync.Mutex                      // serialises Reconfigure

	nconsoles atomic.Int64  // open consoles, as the hub last counted
	dropped   atomic.Uint64 // events the hub's bus subscriptions lost, from ended hubs
	hubSubs   atomic.Pointer[events.Subscription]

	streams     streamsEnd  // closed by an upgrade's HandOver
	streamSlots streamSlots // the streams open (streamcap.go)
	serving     servingPtr  // what Serve serves on, for HandOver
	replies     *ReplyBudget
}

// Consoles is the number of consoles open now. poold samples /proc for
// the stats stream only while one is (or another consumer wants it).
func (s *Server) Consoles() int { return s.consoles() }

// Dropped counts the lifecycle events the console's hub lost because it
// fell behind (poold_events_dropped_total{stream="console"}).
func (s *Server) Dropped() uint64 {
	n := s.dropped.Load()
	if sub := s.hubSubs.Load(); sub != nil {
		n += sub.Dropped()
	}
	return n
}

// consoles is the number of open consoles (for tests and metrics).
func (s *Server) consoles() int { return int(s.nconsoles.Load()) }

// tunings are the timings and sizes of the hub and connections. Tests and
// benchmarks shrink some of them.
type tunings struct {
	clientQueue     int           // messages buffered per client before it is dropped
	eventFlush      time.Duration // batch lifecycle events for this long
	statsFlush      time.Duration // batch a stats round for this long after its first sample
	refreshDelay    time.Duration // debounce before refreshing a watcher after an event
	resync          time.Duration // full refresh while clients are connected
	retry           time.Duration // retry a failed refresh after this long
	backendTO       time.Duration // bound on one backend call (a refresh makes many)
	actionTO        time.Duration // bound on one action
	actionsInFlight int           // actions one console may have running at once
	pingEvery       time.Duration
	pongWait        time.Duration
	heartbeat       time.Duration // a message the page sees at least this often
	closeWait       time.Duration // bound on a websocket's close handshake (conn.go's closeWith)
	writeWait       time.Duration // bound on one write: a websocket message, an SSE event, a reply's part (replywait.go)
	readLimit       int64
	historyLen      int // points of CPU/RSS history per watcher
	recentEvents    int // events replayed to a new console
	shutdownGrace   time.Duration
	fleetResync     time.Duration // refresh a fleet host at least this often
	bodyWait        time.Duration // bound on reading an API request's body
	maxConns        int           // connections open at once (connlimit.go)
	streamsPerKey   int           // streams per token and per address (streamcap.go)
}

func defaultTunings() tunings {
	return tunings{
		clientQueue:     256,
		maxConns:        connCap(),
		streamsPerKey:   maxStreamsPerKey,
		eventFlush:      50 * time.Millisecond,
		statsFlush:      150 * time.Millisecond,
		refreshDelay:    100 * time.Millisecond,
		resync:          15 * time.Second,
		retry:           time.Second,
		backendTO:       5 * time.Second,
		actionTO:        60 * time.Second,
		actionsInFlight: 16,
		pingEvery:       20 * time.Second,
		pongWait:        45 * time.Second,
		heartbeat:       5 * time.Second,
		closeWait:       time.Second,
		writeWait:       10 * time.Second,
		readLimit:       64 << 10,
		historyLen:      600,
		recentEvents:    200,
		shutdownGrace:   5 * time.Second,
		fleetResync:     5 * time.Second,
		bodyWait:        10 * time.Second,
	}
}

// New validates opts and returns a Server. It does no I/O.
//
// An address that is not loopback (127.0.0.0/8, ::1, localhost) needs a
// token: the console can stop and signal processes.
func New(opts Options) (*Server, error) {
	if opts.Backend == nil {
		return nil, errors.New("web: no backend: Options.Backend must be set")
	}
	if opts.Log == nil {
		opts.Log = hclog.NewNullLogger()
	}
	if opts.CookieKey == nil {
		opts.CookieKey = NewCookieKey()
	}
	addr := webAddress(opts.Config.Address)
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("web: [web] address %q: want host:port such as %s: %w", addr, configs.DefaultWebAddress, err)
	}
	if port == "" {
		return nil, fmt.Errorf("web: [web] address %q: no port; write it as host:port such as %s", addr, configs.DefaultWebAddress)
	}
	if !isLoopbackHost(host) && opts.Config.Token == "" && len(opts.Config.Tokens) == 0 {
		return nil, fmt.Errorf("web: [web] address %q is not loopback and no token is set: anyone who can reach it could stop and signal your processes; set [web] token, or bind 127.0.0.1", addr)
	}
	s := &Server{
		opts:    opts,
		log:     opts.Log,
		addr:    addr,
		tunings: defaultTunings(),
		fails:   newFailLimiter(apiFailBurst, apiFailDecay),
		quiet:   newQuietLog(opts.Log),
		replies: opts.Replies,
	}
	if s.replies == nil {
		s.replies = NewReplyBudget(0, 0)
	}
	s.fleet = newFleet(s.tunings)
	s.access.Store(newAccess(host, opts.Config, opts.CookieKey))
	if opts.TLS != nil && len(opts.TLS.Certificates) > 0 {
		s.cert.Store(&opts.TLS.Certificates[0])
	}
	return s, nil
}

// Addr is the configured listen address.
func (s *Server) Addr() string { return s.addr }

// Run listens on the configured address and serves until ctx is cancelled.
// It returns nil after a requested stop, once every goroutine has ended.
func (s *Server) Run(ctx context.Context) error {
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", s.addr)
	if err != nil {
		return fmt.Errorf("web: listen on %s: %w (set [web] address to a free host:port)", s.addr, err)
	}
	return s.Serve(ctx, l)
}

// Serve serves the console on l until ctx is cancelled, then closes l and
// every websocket and returns nil once all goroutines have ended. Any other
// return is the listener's error.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	h := newHub(s, ctx)
	var wg sync.WaitGroup // hub, refresher, fleet and every websocket handler
	s.fleet.t = s.tunings // tests tune after New
	s.fleet.begin(ctx)
	wg.Add(3)
	go func() { defer wg.Done(); s.fleet.run(ctx) }()
	go func() { defer wg.Done(); h.run(ctx) }()
	go func() { defer wg.Done(); h.refresher(ctx) }()

	hs := &http.Server{
		Handler:           s.handler(ctx, h, &wg),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       60 * time.Second,
		ErrorLog:          serverLog(s.log, s.quiet),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	acc := s.access.Load()
	s.log.Info("web console listening", "address", l.Addr().String(), "read_only", acc.readOnly, "token", acc.token != "")
	if acc.guard.closed {
		s.log.Warn("the console page, its websocket and probes are closed: "+closedWhy(), "address", s.addr)
	}

	cl := boundConns(hs, l, s.tunings.maxConns, refuseLog(s.quiet, "console"), s.opts.Budget, "console")
	s.serving.Store(&serving{hs: hs, cl: cl})
	l = cl
	if s.opts.TLS != nil {
		hs.TLSConfig = s.opts.TLS.Clone()
		if s.cert.Load() != nil {
			// Each handshake takes the certificate in force, which a
			// reload replaces (a renewed certificate at the same path).
			hs.TLSConfig.Certificates = nil
			hs.TLSConfig.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return s.cert.Load(), nil }
		}
		l = tls.NewListener(l, hs.TLSConfig)
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- hs.Serve(l) }()

	var err error
	select {
	case <-ctx.Done():
	case err = <-serveErr:
		serveErr = nil
	}
	cancel()
	// Shutdown stops the listener and waits for plain HTTP requests; the
	// websockets were hijacked, so the hub's end (ctx) closes them and wg
	// waits for their handlers.
	sctx, scancel := context.WithTimeout(context.Background(), s.tunings.shutdownGrace)
	if serr := hs.Shutdown(sctx); serr != nil {
		hs.Close()
	}
	scancel()
	if serveErr != nil {
		<-serveErr
	}
	wg.Wait()
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("web: serve on %s: %w", l.Addr(), err)
	}
	return nil
}
