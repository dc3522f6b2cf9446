// Command exampleworker is a tiny HTTP worker for poold's examples and
// tests. It serves on the socket poold hands it (systemd socket activation,
// found with go-systemd's activation.Listeners) and answers every request
// with its pid and wid. Its first line of output says where it serves,
// and $GREETING when set (the example configs set it in env). On SIGTERM it drains: half a second of answering
// with "Connection: close", then it stops accepting and finishes the
// requests in flight before it exits.
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
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if draining.Load() {
				w.Header().Set("Connection", "close")
			}
			fmt.Fprintf(w, "hello from pid %d wid %s\n", pid, *wid)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	fmt.Printf("exampleworker pid %d wid %s serving on %s%s\n", pid, *wid, l.Addr(), greeting())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// Drain: for a moment, answer with "Connection: close" so keep-alive
	// clients leave on their own; closing their idle connections at once
	// (Shutdown) can fail a request they send at that very instant.
	draining.Store(true)
	select {
	case <-time.After(500 * time.Millisecond):
	case err := <-errc:
		return err
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = srv.Shutdown(shutdownCtx)
	<-errc
	fmt.Printf("exampleworker pid %d wid %s stopped\n", pid, *wid)
	return err
}

// greeting is ": " and $GREETING, or "" when it is unset or empty.
func greeting() string {
	if g := os.Getenv("GREETING"); g != "" {
		return ": " + g
	}
	return ""
}
