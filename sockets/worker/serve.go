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
// The drain does not call srv.Shutdown, which loses requests: it closes
// every idle keep-alive connection at once, and a client that sends its
// next request at that instant gets a read error; and net/http drops
// unanswered a request it reads once Shutdown has begun on a connection
// accepted a moment before (golang/go#75591), which fails clients that
// open a connection per request. Instead:
//  1. every answer from now on says "Connection: close", so a keep-alive
//     client leaves after its next answer, cleanly;
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
//     and waits for the requests in flight.
func Serve(ctx context.Context, srv *http.Server, l net.Listener) error {
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
	go func() { errc <- srv.Serve(heardListener{l}) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	draining.Store(true)
	return drain(srv, l, errc, open)
}

// drain does steps 2 to 4 of Serve's drain.
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
	closed := make(chan struct{})
	go func() { open.all.Wait(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(window):
		srv.SetKeepAlivesEnabled(false) // closes the idle connections
		open.closeSilent(0)
		<-closed
	}
	return nil
}
