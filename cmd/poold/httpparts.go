package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"

	"github.com/hashicorp/go-hclog"

	"github.com/poold/poold/arbiter/metrics"
	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/events/zmqguard"
	"github.com/poold/poold/web"
)

// httpParts starts poold's HTTP surfaces: the console ([web] enabled) and
// the metrics and health listener ([web] metrics_address), which share
// one metrics exporter.
//
// At a start, one that cannot start stops poold: nothing runs yet. In an
// upgrade's new image, which holds the workers by then, it is a warning:
// the listener stays on the address the previous image had (the one
// handed over), or is off, until an upgrade or a restart applies the
// config; the workers and the control endpoint serve on.
type httpParts struct {
	cfg           *configs.Config
	arb           *httpView // the arbiter, answering through a hand-over
	bus, statsBus *events.Bus
	log           hclog.Logger
	goRun         func(string, func(context.Context) error)
	failed        <-chan error
	// dropped feeds poold_events_dropped_total; start adds the console's.
	// Scrapes read it only once start has returned.
	dropped map[string]func() uint64
	// evicted feeds poold_subscribers_evicted_total.
	evicted map[string]func() uint64

	// hold, when set (an upgrade's new image), is closed once the
	// arbiter took the workers over: the listeners serve from then on.
	hold <-chan struct{}
	// adopted: this is an upgrade's new image (see above).
	adopted bool

	console *web.Server      // set by start when the console is enabled
	probes  *web.ProbeServer // set by start when metrics_address is set
}

// start binds what is configured.
func (h *httpParts) start() error {
	w := h.cfg.Web
	if !w.Enabled && w.MetricsAddress == "" {
		return nil
	}
	exp := metrics.New(metrics.Options{Source: h.arb, Events: h.bus, Dropped: h.dropped, Evicted: h.evicted, Log: h.log.Named("metrics")})
	// Subscribed before the arbiter starts, so every restart is counted.
	h.goRun("metrics", exp.Run)
	select {
	case <-exp.Ready():
	case err := <-h.failed:
		return err
	}
	// The big replies both HTTP listeners hold for clients still
	// reading them are bounded together.
	replies := web.NewReplyBudget(0, 0)
	for _, l := range httpListenersOf(w) {
		start := h.startConsole
		if l.role == "metrics" {
			start = h.startMetrics
		}
		if err := start(l, exp, replies); err != nil {
			if !h.adopted {
				return err
			}
			h.log.Warn("upgrade: "+l.role+" off in this image; the workers and the control endpoint serve on", "error", err,
				"fix", "fix what the error says, then poolctl reloadconfig and poolctl upgrade (or restart poold) to start it")
		}
	}
	return nil
}

// startConsole starts the console (l) with the metrics of exp.
func (h *httpParts) startConsole(l httpListener, exp *metrics.Exporter, replies *web.ReplyBudget) error {
	w := h.cfg.Web
	var tlsConf *tls.Config
	scheme := "http"
	if w.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(w.TLSCert, w.TLSKey)
		if err != nil {
			return fmt.Errorf("web: tls_cert %s, tls_key %s: %w", w.TLSCert, w.TLSKey, err)
		}
		tlsConf = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		scheme = "https"
	}
	ln, done, at, err := h.listen(l)
	if err != nil {
		return fmt.Errorf("web console: %w", err)
	}
	w.Address = at
	srv, err := web.New(web.Options{Config: w, Backend: wireBackend{h.arb}, Events: h.bus, Stats: h.statsBus,
		Metrics: exp.Handler(), Health: h.arb, Log: h.log.Named("web"), TLS: tlsConf, CookieKey: cookieKey, Budget: listenerBudget, Replies: replies})
	if err != nil {
		ln.Close()
		done()
		return err
	}
	h.dropped["console"] = srv.Dropped
	h.goRun("web console", func(ctx context.Context) error { defer done(); return h.serveHeld(ctx, ln, srv.Serve) })
	h.log.Info("web console", "url", scheme+"://"+ln.Addr().String()+"/", "api", apiField(scheme+"://"+ln.Addr().String(), w))
	h.console = srv
	return nil
}

// apiField is the api= of the console's start line: the API's URL
// under base, or, when the config has no API token (every request would
// be refused), that it is off and the keys that turn it on.
func apiField(base string, w configs.Web) string {
	if w.Token == "" && len(w.Tokens) == 0 {
		return "off (no API token: set web.api_tokens or web.token, then reload)"
	}
	return base + "/api/v1/"
}

// startMetrics starts the metrics and health listener (l) on exp.
func (h *httpParts) startMetrics(l httpListener, exp *metrics.Exporter, replies *web.ReplyBudget) error {
	w := h.cfg.Web
	ln, done, at, err := h.listen(l)
	if err != nil {
		return fmt.Errorf("metrics listener: %w", err)
	}
	ps, err := web.NewProbeServer(web.ProbeOptions{Address: at, Token: w.Token, Tokens: w.Tokens,
		Metrics: exp.Handler(), Health: h.arb, Log: h.log.Named("metrics"), CookieKey: cookieKey, Budget: listenerBudget, Replies: replies})
	if err != nil {
		ln.Close()
		done()
		return err
	}
	h.goRun("metrics listener", func(ctx context.Context) error { defer done(); return h.serveHeld(ctx, ln, ps.Serve) })
	h.log.Info("metrics", "url", "http://"+ln.Addr().String()+"/metrics")
	h.probes = ps
	return nil
}

// listen takes the listener for l: the one handed over for its address,
// or a new one. An upgrade's new image that can have neither falls back
// on the listener the previous image had for l's role, at the address it
// had (at says which; a reload then says the address still has to be
// applied), and says so.
func (h *httpParts) listen(l httpListener) (ln net.Listener, done func(), at string, err error) {
	ln, done, err = listenHTTP(l.role, l.addr)
	if err == nil {
		return ln, done, l.addr, nil
	}
	err = explainBind(zmqguard.BindError(l.key, l.addr, err), h.cfg.Path)
	if !h.adopted {
		return nil, nil, "", err
	}
	ln, at, done = takeInheritedRole(l.role)
	if ln == nil {
		return nil, nil, "", err
	}
	h.log.Warn("upgrade: "+l.role+" stays where the previous image had it: its new address cannot be bound", "address", l.addr, "stays_on", at, "error", err,
		"fix", "free "+l.addr+" (or change "+l.key+" and poolctl reloadconfig), then poolctl upgrade to move it")
	return ln, done, at, nil
}
