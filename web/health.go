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
	Ping(ctx context.Context) error
	Snapshot(ctx context.Context) (arbiter.Snapshot, error)
}

// probeTimeout bounds a probe's wait for the loop: an orchestrator's
// probe gives up after about a second too (Kubernetes' default
// timeoutSeconds is 1).
const probeTimeout = time.Second

// healthz answers 200 when poold's loop answers within probeTimeout, 503
// otherwise: the liveness probe.
func healthz(h Health) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), probeTimeout)
		defer cancel()
		noStore(w)
		if err := h.Ping(ctx); err != nil {
			why := err.Error()
			if errors.Is(err, context.DeadlineExceeded) {
				why = fmt.Sprintf("poold's event loop did not answer within %v", probeTimeout)
			}
			http.Error(w, "unhealthy: "+why, http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	}
}

// readyz answers 200 when every autostart watcher is ready (see
// arbiter.NotReady), 503 with one line per reason otherwise: the
// readiness probe.
func readyz(h Health) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), probeTimeout)
		defer cancel()
		noStore(w)
		s, err := h.Snapshot(ctx)
		if err != nil {
			http.Error(w, "not ready: poold's event loop did not answer: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		if why := arbiter.NotReady(s); len(why) > 0 {
			http.Error(w, "not ready: "+strings.Join(why, "\nnot ready: "), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	}
}

func noStore(w http.ResponseWriter) { w.Header().Set("Cache-Control", "no-store") }

// ProbeOptions configure a ProbeServer.
type ProbeOptions struct {
	// Address is [web] metrics_address, host:port.
	Address string
	// Token is [web] token: when set, /metrics needs it (Authorization:
	// Bearer, as Prometheus's scrape config sends it); /healthz and
	// /readyz never do, so an orchestrator's probe needs no secret.
	Token   string
	Metrics http.Handler // nil: no /metrics
	Health  Health       // nil: no /healthz, /readyz
	Log     hclog.Logger

	maxConns int // tests: connections open at once; 0 is connCap()
}

// ProbeServer serves /metrics, /healthz and /readyz on their own address,
// whether or not the console is enabled. It is not for browsers: no
// page, no cookie, no Host check (it exposes nothing a token does not
// guard that could be used against poold).
type ProbeServer struct {
	opts  ProbeOptions
	host  string
	guard atomic.Pointer[guard] // replaced by Reconfigure
	fails *failLimiter          // failed /metrics tokens per client address
	quiet *quietLog             // refused scrapes, logged once a while
	conns int                   // connections open at once (connlimit.go)
}

// NewProbeServer checks opts and returns the server. It does no I/O.
func NewProbeServer(opts ProbeOptions) (*ProbeServer, error) {
	if opts.Log == nil {
		opts.Log = hclog.NewNullLogger()
	}
	host, port, err := net.SplitHostPort(opts.Address)
	if err != nil || port == "" {
		return nil, fmt.Errorf("web: [web] metrics_address %q: want host:port such as 127.0.0.1:9100", opts.Address)
	}
	p := &ProbeServer{opts: opts, host: host, fails: newFailLimiter(apiFailBurst, apiFailDecay), quiet: newQuietLog(opts.Log), conns: cmp.Or(opts.maxConns, connCap())}
	p.guard.Store(newGuard(host, opts.Token))
	return p, nil
}

// Reconfigure applies a reloaded [web] section: a new token guards
// /metrics at once; a new metrics_address needs a restart of poold and
// is returned as "web.metrics_address". Safe for concurrent use.
func (p *ProbeServer) Reconfigure(c configs.Web) (restart []string) {
	if c.MetricsAddress != p.opts.Address {
		restart = append(restart, "web.metrics_address")
	}
	p.guard.Store(newGuard(p.host, c.Token))
	return restart
}

// Addr is the configured address.
func (p *ProbeServer) Addr() string { return p.opts.Address }

func (p *ProbeServer) handler() http.Handler {
	mux := http.NewServeMux()
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
			if ok, _ := p.guard.Load().tokenOK(r); !ok {
				why := "no token"
				if triedToken(r) {
					p.fails.fail(key)
					why = "bad token"
				}
				p.quiet.Warn(r.RemoteAddr, "metrics request refused: "+why, "remote", r.RemoteAddr)
				w.Header().Set("WWW-Authenticate", `Bearer realm="poold"`)
				http.Error(w, "poold metrics: token required: send Authorization: Bearer with the [web] token (authorization: {credentials: ...} in the scrape config)", http.StatusUnauthorized)
				return
			}
			m.ServeHTTP(w, r)
		})
	}
	return mux
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
	p.opts.Log.Info("metrics and health listening", "address", l.Addr().String(), "token", p.opts.Token != "")
	l = limitConns(l, p.conns, refuseLog(p.quiet, "metrics and health listener"))
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
