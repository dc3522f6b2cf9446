// Package worker is what a Go web worker started by poold imports: it
// takes the listening socket poold passed (Listener) and serves an
// http.Server on it until told to stop, then drains it without failing a
// request (Serve), whether its clients keep their connections alive or
// send "Connection: close" on each. ServeTLS does the same over TLS, as
// http.Server.ServeTLS; both speak HTTP/2 (over TLS, or h2c when
// srv.Protocols allows it) and drain it with GOAWAY. It imports the
// standard library only.
//
//	l, err := worker.Listener("web") // [sockets.web] of its watcher
//	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
//	defer stop()
//	err = worker.Serve(ctx, srv, l)  // returns nil once drained
//
// Concurrency: Listener may be called from any goroutine; each passed
// socket can be taken once. Serve blocks until its server has drained;
// it owns srv from its call on (it sets srv.Handler and srv.ConnState).
package worker
