// Command exampleworker is a tiny HTTP worker for poold's examples and
// tests. It serves on the socket poold hands it (systemd socket activation,
// found with go-systemd's activation.Listeners) and answers every request
// with its pid and wid. Its first line of output says where it serves,
// and $GREETING when set (the example configs set it in env). On SIGTERM
// it drains without losing a request, whether its clients keep
// connections alive or close them after each answer (see drain).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/activation"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "exampleworker:", err)
		os.Exit(1)
	}
}

func run() error {
	wid := flag.String("wid", os.Getenv("POOLD_WID"), "worker id to report (poold passes $(pool.wid))")
	listen := flag.String("listen", "", "address to listen on when not started by poold (e.g. 127.0.0.1:8000)")
	flag.Parse()

	var l net.Listener
	ls, err := activation.Listeners()
	if err != nil {
		return fmt.Errorf("inherited sockets: %w", err)
	}
	switch {
	case len(ls) > 0 && ls[0] != nil:
		l = ls[0]
	case *listen != "":
		if l, err = net.Listen("tcp", *listen); err != nil {
			return err
		}
	default:
		return errors.New("no inherited socket (LISTEN_FDS) and no --listen address; run me under poold")
	}
	pid := os.Getpid()
	var draining atomic.Bool
	open := &openConns{silent: map[net.Conn]time.Time{}}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if draining.Load() {
				w.Header().Set("Connection", "close")
			}
			fmt.Fprintf(w, "hello from pid %d wid %s\n", pid, *wid)
		}),
		ReadHeaderTimeout: 10 * time.Second,
		ConnState:         open.track,
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(heardListener{l}) }()
	fmt.Printf("exampleworker pid %d wid %s serving on %s%s\n", pid, *wid, l.Addr(), greeting())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	if err := drain(srv, l, errc, &draining, open); err != nil {
		return err
	}
	fmt.Printf("exampleworker pid %d wid %s stopped\n", pid, *wid)
	return nil
}

// drain stops a server without losing a request. It does not call
// srv.Shutdown: a request that Shutdown's server reads on a connection
// accepted a moment before gets no answer (golang/go#75591), which fails
// requests of clients that send "Connection: close" (one new connection
// each). Instead:
//  1. every answer from now on says "Connection: close", so a keep-alive
//     client leaves after its next answer, cleanly;
//  2. the listener is closed: new connections wait in the socket's queue
//     for the other processes that share it (poold and the other workers
//     keep it open), and Serve returns;
//  3. a connection that has sent nothing, not a byte, for half a second
//     (a client's spare connection, a preconnect) is closed at once: it
//     has no request in flight, and would hold the worker for
//     ReadHeaderTimeout (heardConn tells it from one whose header is
//     still coming, which is left to the server);
//  4. it waits up to half a second for the connections it accepted to be
//     answered and closed; then it closes those still idle or silent (a
//     client that sent nothing meanwhile: one that sends at that very
//     instant retries, on a reused connection), and waits for the
//     requests in flight.
func drain(srv *http.Server, l net.Listener, errc <-chan error, draining *atomic.Bool, open *openConns) error {
	const window = 500 * time.Millisecond
	draining.Store(true)
	if err := l.Close(); err != nil {
		return fmt.Errorf("closing the listener: %w", err)
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

// greeting is ": " and $GREETING, or "" when it is unset or empty.
func greeting() string {
	if g := os.Getenv("GREETING"); g != "" {
		return ": " + g
	}
	return ""
}
