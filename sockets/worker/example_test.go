package worker_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/poold/poold/sockets/worker"
)

// A worker serves on the socket poold passed ([sockets.web], in its
// watcher's sockets list) and, at poold's SIGTERM, drains without failing
// a request. Started by hand, it listens on an address of its own.
func Example() {
	l, err := worker.Listener("web")
	if errors.Is(err, worker.ErrNotPassed) {
		l, err = net.Listen("tcp", "127.0.0.1:0") // not started by poold
	}
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintln(w, "hello")
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go getThenStop(l.Addr().String()) // this example's client, and poold's part
	if err := worker.Serve(ctx, srv, l); err != nil {
		log.Fatal(err)
	}
	fmt.Println("drained")
	// Output:
	// hello
	// drained
}

// getThenStop prints the answer to a request on addr, then sends this
// process SIGTERM, as poold does to stop a worker.
func getThenStop(addr string) {
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		log.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Print(string(body))
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		log.Fatal(err)
	}
}
