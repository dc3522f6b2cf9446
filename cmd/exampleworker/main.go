// Command exampleworker is a tiny HTTP worker for poold's examples and
// tests. It serves on the socket poold hands it (systemd socket
// activation, taken with sockets/worker's Listener) and answers every
// request with its pid and wid. Its first line of output says where it
// serves, and $GREETING when set (the example configs set it in env). On
// SIGTERM it drains without losing a request, whether its clients keep
// connections alive or close them after each answer (sockets/worker's
// Serve).
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
	"syscall"
	"time"

	"github.com/poold/poold/sockets/worker"
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

	l, err := worker.Listener("")
	switch {
	case errors.Is(err, worker.ErrNotPassed) && *listen != "":
		if l, err = net.Listen("tcp", *listen); err != nil {
			return err
		}
	case errors.Is(err, worker.ErrNotPassed):
		return errors.New("no inherited socket (LISTEN_FDS) and no --listen address; run me under poold")
	case err != nil:
		return err
	}
	pid := os.Getpid()
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "hello from pid %d wid %s\n", pid, *wid)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	// The listener queues connections already: the line may come first.
	fmt.Printf("exampleworker pid %d wid %s serving on %s%s\n", pid, *wid, l.Addr(), greeting())
	if err := worker.Serve(ctx, srv, l); err != nil {
		return err
	}
	fmt.Printf("exampleworker pid %d wid %s stopped\n", pid, *wid)
	return nil
}

// greeting is ": " and $GREETING, or "" when it is unset or empty.
func greeting() string {
	if g := os.Getenv("GREETING"); g != "" {
		return ": " + g
	}
	return ""
}
