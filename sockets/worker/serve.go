package worker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// window is how long a draining server lets its keep-alive clients leave
// on their own, and how long a connection may have sent nothing before
// the drain closes it.
const window = 500 * time.Millisecond

// Serve serves srv on l until ctx is done (poold's SIGTERM, through
// signal.NotifyContext, or the caller's own signal handling), then drains
// it and returns nil once every connection it accepted is closed. It
// returns srv.Serve's error if serving fails before.
//
// Serve sets srv.Handler to one that adds "Connection: close" to every
// answer once the drain has begun (http.DefaultServeMux when it was nil),
// and srv.ConnState to one that follows the connections, then calls the
// one srv had. Give srv a ReadHeaderTimeout: a client that stalls in the
// middle of a header holds the drain that long.
//
// The drain does not begin with srv.Shutdown, which loses requests: it
// closes every idle keep-alive connection at once, and a client that
// sends its next request at that instant gets a read error; and net/http
// drops unanswered a request it reads once Shutdown has begun on a
// connection accepted a moment before (golang/go#75591), which fails
// clients that open a connection per request. Instead:
//  1. every answer from now on says "Connection: close", so a keep-alive
//     client leaves after its next answer, cleanly (over HTTP/2, net/http
//     sends GOAWAY after that answer instead);
//  2. the listener is closed: new connections wait in the socket's queue
//     for the other processes that share it (poold and the other workers
//     keep it open);
//  3. a connection on which not a byte has come for half a second (a
//     client's spare connection, a preconnect) is closed at once: it has
//     no request in flight, and would hold the worker for
//     ReadHeaderTimeout. One whose header is still coming is left to the
//     server;
//  4. it waits up to half a second for the connections to be answered
//     and closed; then it closes those still idle or silent (a client
//     that sends at that very instant retries, on a reused connection),
//     and waits for the requests in flight;
//  5. once no HTTP/1 connection is left open (at once if there was none),
//     it calls srv.Shutdown with a context already done, which sends
//     GOAWAY to every HTTP/2 connection: its client sends no new request
//     on it, those in flight are answered, and the connection ends. This
//     also runs srv's RegisterOnShutdown functions.
//
// A connection a handler hijacked (a WebSocket; x/net's h2c.NewHandler
// hijacks every HTTP/2 connection) is open until its hijacker closes it,
// and Serve waits for it as for any other: net/http cannot tell it to
// go. Close it from a RegisterOnShutdown function (a WebSocket's close
// 1001), or poold's SIGKILL at graceful_timeout ends it. With x/net's
// h2c, call http2.ConfigureServer(srv, h2s) with the http2.Server given
// to h2c.NewHandler: srv.Shutdown then sends its connections GOAWAY too.
// Better, use srv.Protocols:
//
// HTTP/2 without TLS (h2c: srv.Protocols with SetUnencryptedHTTP2, and
// clients that speak it from the first byte) drains as HTTP/2 over TLS
// does. For TLS, use ServeTLS.
func Serve(ctx context.Context, srv *http.Server, l net.Listener) error {
	return serve(ctx, srv, l, false, func(l net.Listener) error { return srv.Serve(l) })
}

// ServeTLS is Serve over TLS, as http.Server.ServeTLS: l is the plain
// listener (Listener's), and net/http runs TLS over each connection with
// srv.TLSConfig and the certificate in certFile and keyFile (both "" when
// srv.TLSConfig has its certificates). HTTP/2 is offered as
// http.Server.ServeTLS offers it. Its drain is Serve's; a connection whose
// client sent nothing since its handshake (a browser's preconnect, a
// spare connection) counts as one that sent nothing, once it has waited
// for the client for half a second.
//
// Serve also takes a listener that returns *tls.Conn (tls.NewListener):
// net/http sees them, so HTTP/2 and Request.TLS work; but the drain
// cannot see what TLS reads: it closes a connection on which no data has
// come for half a second (Linux's TCP_INFO; elsewhere an idle one holds
// it for ReadHeaderTimeout), even one whose server is that long in its
// handshake (a very loaded machine). Prefer ServeTLS.
func ServeTLS(ctx context.Context, srv *http.Server, l net.Listener, certFile, keyFile string) error {
	return serve(ctx, srv, l, true, func(l net.Listener) error { return srv.ServeTLS(l, certFile, keyFile) })
}

// serve is Serve and ServeTLS: run serves srv on the listener it is given.
func serve(ctx context.Context, srv *http.Server, l net.Listener, overTLS bool, run func(net.Listener) error) error {
	open := newOpenConns()
	var draining atomic.Bool
	h := srv.Handler
	if h == nil {
		h = http.DefaultServeMux
	}
	srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if draining.Load() {
			w.Header().Set("Connection", "close")
		}
		h.ServeHTTP(w, r)
	})
	user := srv.ConnState
	srv.ConnState = func(c net.Conn, s http.ConnState) {
		open.track(c, s)
		if user != nil {
			user(c, s)
		}
	}
	errc := make(chan error, 1)
	go func() { errc <- run(servedListener{Listener: l, tls: overTLS}) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	draining.Store(true)
	return drain(srv, l, errc, open)
}

// drain does steps 2 to 5 of Serve's drain.
func drain(srv *http.Server, l net.Listener, errc <-chan error, open *openConns) error {
	if err := l.Close(); err != nil {
		return fmt.Errorf("worker: closing the listener on %s: %w", l.Addr(), err)
	}
	// Serve tracks a connection (StateNew) before its next Accept: once it
	// returned, open counts every connection there will be.
	if err := <-errc; !errors.Is(err, net.ErrClosed) {
		return err
	}
	open.closeSilent(window)
	windowEnd := time.NewTimer(window)
	defer windowEnd.Stop()
	// Each tick looks for the hijacked connections closed since, and,
	// after the window, for TLS connections gone quiet.
	tick := time.NewTicker(window / 5)
	defer tick.Stop()
	windowOver, goneAway := false, false
	for {
		n, http1 := open.count()
		if http1 == 0 && !goneAway {
			goAway(srv)
			goneAway = true
		}
		if n == 0 {
			return nil
		}
		select {
		case <-open.changed:
		case <-windowEnd.C:
			windowOver = true
			srv.SetKeepAlivesEnabled(false) // closes the idle HTTP/1 connections
			open.closeSilent(0)
		case <-tick.C:
			open.reapHijacked()
			if windowOver {
				open.closeSilent(0)
			}
		}
	}
}

// goAway calls srv.Shutdown with a context already done: it tells every
// HTTP/2 client to go (GOAWAY, after which the connection ends once its
// requests are answered), runs srv's RegisterOnShutdown functions, and
// returns. Only once no HTTP/1 connection is open: Shutdown closes those
// idle at once, and net/http drops a request it reads after Shutdown.
func goAway(srv *http.Server) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = srv.Shutdown(ctx)
}
