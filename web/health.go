package web

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/configs"
)

// Health is what /healthz and /readyz ask: *arbiter.Arbiter.
type Health interface {
	// Live is nil when the loop answers in time, arbiter.ErrBusy when it
	// did not but went on working meanwhile, another error when stuck.
	Live(ctx context.Context) error
	Snapshot(ctx context.Context) (arbiter.Snapshot, error)
	// Work changes whenever the loop works (see arbiter.Arbiter.Work).
	Work() uint64
}

// probeTimeout bounds a probe's wait for the loop: an orchestrator's
// probe gives up after about a second too (Kubernetes' default
// timeoutSeconds is 1).
const probeTimeout = time.Second

// healthz answers 200 when poold's loop answers within probeTimeout or
// is busy (a reload starting a thousand workers keeps it from answering
// for seconds; one fork may wait seconds on a loaded host), 503 when it
// is stuck: it did no work for probeTimeout and is in no step, or in one
// step for longer than [arbiter] stuck_after (30 s by default) (the 503 names it).
// The liveness probe.
func healthz(h Health) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), probeTimeout)
		defer cancel()
		noStore(w)
		err := h.Live(ctx)
		if errors.Is(err, arbiter.ErrBusy) {
			fmt.Fprintln(w, "ok:", err)
			return
		}
		if err != nil {
			why := err.Error()
			var stuck *arbiter.StuckError
			if errors.Is(err, context.DeadlineExceeded) && !errors.As(err, &stuck) {
				why = fmt.Sprintf("poold's event loop did not answer within %v and did no work meanwhile", probeTimeout)
			}
			http.Error(w, "unhealthy: "+why, http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	}
}

// busyVerdictAge bounds how old a verdict /readyz repeats while the loop
// is too busy to give a Snapshot: a rolling reload of 10,000 workers
// spends about this long starting them.
const busyVerdictAge = 30 * time.Second

// verdict is one answer of /readyz: why poold is not ready (none: ready)
// and when that was found.
type verdict struct {
	why []string
	at  time.Time
}

// readyz answers 200 when every watcher that counts is ready (see
// arbiter.NotReady), 503 with one line per reason otherwise: the
// readiness probe. While the loop is too busy to answer but works on (a
// reload starting a thousand workers), it repeats its last verdict of
// the last busyVerdictAge: the old workers of a rolling reload serve on,
// and a 503 then would take the pod out of its Service for nothing.
func readyz(h Health) http.HandlerFunc {
	var last atomic.Pointer[verdict]
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), probeTimeout)
		defer cancel()
		noStore(w)
		before := h.Work()
		s, err := h.Snapshot(ctx)
		note := ""
		v, prev := &verdict{at: time.Now()}, last.Load()
		switch {
		case err == nil:
			v.why = arbiter.NotReady(s)
			last.Store(v)
		case errors.Is(err, context.DeadlineExceeded) && h.Work() != before &&
			prev != nil && time.Since(prev.at) < busyVerdictAge:
			v = prev
			note = fmt.Sprintf(" (poold's event loop is busy: as found %v ago)", time.Since(v.at).Round(time.Millisecond))
		default:
			http.Error(w, "not ready: poold's event loop did not answer: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		if len(v.why) > 0 {
			http.Error(w, "not ready: "+strings.Join(v.why, "\nnot ready: ")+note, http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready"+note)
	}
}

func noStore(w http.ResponseWriter) { w.Header().Set("Cache-Control", "no-store") }

// ProbeOptions configure a ProbeServer.
type ProbeOptions struct {
	// Address is [web] metrics_address, host:port.
	Address string
	// Token is [web] token: when set, /metrics needs it (Authorization:
	// Bearer, as Prometheus's scrape config sends it), or one of Tokens;
	// /healthz and /readyz never do, so an orchestrator's probe needs no
	// secret.
	Token string
	// Tokens are [web] api_tokens: any of them reads /metrics too, so a
	// scraper can have a read-only token instead of the console's.
	Tokens  []configs.APIToken
	Metrics http.Handler // nil: no /metrics
	Health  Health       // nil: no /healthz, /readyz
	Log     hclog.Logger
	// CookieKey is the console's (Options.CookieKey): a browser signed
	// in to the console reads /metrics here with its cookie.
	CookieKey *CookieKey

	// Budget, if set, bounds the listener's connections together with
	// poold's other listeners'.
	Budget ConnBudget
	// Replies bounds the big replies held while their clients read
	// them, shared with the console's (Options.Replies). Nil: one of
	// the defaults' for this listener alone.
	Replies   *ReplyBudget
	maxConns  int           // tests: connections open at once; 0 is connCap()
	writeWait time.Duration // tests: a reply's part may take this long to leave; 0 is probeWriteWait
}

// ProbeServer serves /metrics, /healthz and /readyz on their own address,
// whether or not the console is enabled. It is not for browsers: no
// page, no cookie, no Host check (it exposes nothing a token does not
// guard that could be used against poold).
type ProbeServer struct {
	opts    ProbeOptions
	host    string
	guard   atomic.Pointer[probeGuard] // replaced by Reconfigure
	api     atomic.Pointer[[]apiToken] // web.api_tokens, replaced by Reconfigure
	fails   *failLimiter               // failed /metrics tokens per client address
	quiet   *quietLog                  // refused scrapes, logged once a while
	conns   int                        // connections open at once (connlimit.go)
	serving servingPtr                 // what Serve serves on, for HandOver
	replies *ReplyBudget               // big replies being read (replycap.go)
}

// NewProbeServer checks opts and returns the server. It does no I/O.
func NewProbeServer(opts ProbeOptions) (*ProbeServer, error) {
	if opts.Log == nil {
		opts.Log = hclog.NewNullLogger()
	}
	if opts.CookieKey == nil {
		opts.CookieKey = NewCookieKey() // a cookie of no console
	}
	host, port, err := net.SplitHostPort(opts.Address)
	if err != nil || port == "" {
		return nil, fmt.Errorf("web: [web] metrics_address %q: want host:port such as 127.0.0.1:9100", opts.Address)
	}
	p := &ProbeServer{opts: opts, host: host, fails: newFailLimiter(apiFailBurst, apiFailDecay), quiet: newQuietLog(opts.Log), conns: cmp.Or(opts.maxConns, connCap()), replies: opts.Replies}
	if p.replies == nil {
		p.replies = NewReplyBudget(0, 0)
	}
	p.guard.Store(&probeGuard{guard: newGuard(host, opts.Token, opts.CookieKey)})
	p.storeAPI(opts.Tokens)
	return p, nil
}

// probeGuard is the metrics listener's guard in force, and the guards of
// the console tokens reloads replaced (retire), so that a scrape or a
// browser still on one is told so, as the console tells it.
type probeGuard struct {
	*guard
	stale []*guard
}

// signInWhy says why r is refused when it is a sign-in of before a
// token change or a restart, as the console says it: it carries a token
// or cookie of a replaced token (it is no guess then, as on the
// console), or only console cookies that g refuses. "" otherwise.
func (g *probeGuard) signInWhy(r *http.Request) string {
	if replacedToken(g.stale, r) {
		return "signed in with a token that [web] token has since replaced"
	}
	if g.triedToken(r) {
		return ""
	}
	return g.cookieWhy(r)
}

// Reconfigure applies a reloaded [web] section: a new token guards
// /metrics at once; a new metrics_address needs a restart of poold and
// is returned as "web.metrics_address". Safe for concurrent use.
func (p *ProbeServer) Reconfigure(c configs.Web) (restart []string) {
	if c.MetricsAddress != p.opts.Address {
		restart = append(restart, "web.metrics_address")
	}
	cur := p.guard.Load()
	next := &probeGuard{guard: newGuard(p.host, c.Token, p.opts.CookieKey), stale: cur.stale}
	if next.token != cur.token || next.hasToken != cur.hasToken {
		next.stale = retire(cur.stale, cur.guard)
	}
	p.guard.Store(next)
	p.storeAPI(c.Tokens)
	return restart
}

func (p *ProbeServer) storeAPI(tokens []configs.APIToken) {
	api := apiTokens(configs.Web{Tokens: tokens})
	p.api.Store(&api)
}

// tokenOK: r carries the console's token (or its cookie), or a bearer
// token of web.api_tokens, whatever its role (metrics change nothing).
// Only a poold with neither serves /metrics to anyone: one given only
// api_tokens (a read-only token for Prometheus) must not serve it to
// every client that sends none.
func (p *ProbeServer) tokenOK(g *guard, r *http.Request) bool {
	api := *p.api.Load()
	if !g.hasToken && len(api) == 0 {
		return true
	}
	if ok, _ := g.tokenOK(r); ok && g.hasToken {
		return true
	}
	return anyToken(api, r)
}

// tokenName names the token r was admitted with, for the ReplyBudget:
// its file, or web.token; "" with none (a poold without tokens).
func (p *ProbeServer) tokenName(g *guard, r *http.Request) string {
	if _, name := roleOf(*p.api.Load(), bearer(r)); name != "" {
		return name
	}
	if ok, _ := g.tokenOK(r); ok && g.hasToken {
		return "web.token"
	}
	return ""
}

// scrapeToken completes the 401s of /metrics: which token to send, how.
const scrapeToken = "[web] token or a token of [web] api_tokens, a read-only one will do (authorization: {credentials: ...} in the scrape config)"

// Addr is the configured address.
func (p *ProbeServer) Addr() string { return p.opts.Address }

// probeWriteWait is how long a part of a reply of the metrics listener
// may take to leave (replywait.go), as the console's writeWait.
const probeWriteWait = 10 * time.Second

func (p *ProbeServer) handler() http.Handler {
	mux := http.NewServeMux()
	wait := cmp.Or(p.opts.writeWait, probeWriteWait)
	bounded := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w, end := boundedReplies(w, wait, false, p.replies, "client "+clientKey(r))
		defer end()
		mux.ServeHTTP(w, r)
	})
	if p.opts.Health != nil {
		mux.Handle("GET /healthz", healthz(p.opts.Health))
		mux.Handle("GET /readyz", readyz(p.opts.Health))
	}
	if m := p.opts.Metrics; m != nil {
		mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
			key := clientKey(r)
			if p.fails.refuse(w, key, "poold metrics") {
				return
			}
			g := p.guard.Load()
			if !p.tokenOK(g.guard, r) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="poold"`)
				const tokens = "[web] token or web.api_tokens"
				if why := g.signInWhy(r); why != "" {
					p.quiet.Info(key, "metrics request refused: signed in before a restart or a token change", "why", why, "remote", r.RemoteAddr)
					http.Error(w, "poold metrics: "+why+"; send Authorization: Bearer with the "+scrapeToken+
						", or open the console's address with ?token=YOUR_TOKEN once to sign in again", http.StatusUnauthorized)
					return
				}
				if !g.triedToken(r) {
					p.quiet.Warn(key, "metrics request refused: no token", "remote", r.RemoteAddr)
					http.Error(w, "poold metrics: token required: send Authorization: Bearer with the "+scrapeToken+notBearer(r), http.StatusUnauthorized)
					return
				}
				if p.fails.refuseFailed(w, consoleCredentials(r), key, "poold metrics", tokens) {
					return
				}
				p.quiet.Warn(key, "metrics request refused: bad token", "remote", r.RemoteAddr)
				http.Error(w, "poold metrics: token refused: it matches none of "+tokens+"; send Authorization: Bearer with the "+scrapeToken, http.StatusUnauthorized)
				return
			}
			// Counted, built without a turn: the exporter builds few
			// at once (replycap.go).
			replyKey(w, p.tokenName(g.guard, r))
			m.ServeHTTP(w, r)
		})
	}
	return bounded
}

// Serve serves on l until ctx is cancelled, then shuts down (bounded) and
// returns nil; any other return is the listener's error.
func (p *ProbeServer) Serve(ctx context.Context, l net.Listener) error {
	hs := &http.Server{
		Handler:           p.handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       60 * time.Second,
		ErrorLog:          p.opts.Log.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}),
	}
	p.opts.Log.Info("metrics and health listening", "address", l.Addr().String(), "token", p.opts.Token != "" || len(p.opts.Tokens) > 0)
	cl := boundConns(hs, l, p.conns, refuseLog(p.quiet, "metrics and health listener"), p.opts.Budget, "metrics")
	p.serving.Store(&serving{hs: hs, cl: cl})
	l = cl
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(l) }()
	select {
	case err := <-errc:
		return fmt.Errorf("web: metrics_address %s: %w", l.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		hs.Close()
	}
	<-errc
	return nil
}
