package workertest

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/activation"
)

// servePlain is mode "plain": the plainest Go web worker there is. It
// serves HTTP on the inherited socket and, on SIGTERM, calls
// http.Server.Shutdown and nothing else: no drain period of its own, no
// "Connection: close" of its own. Shutdown closes the listener, closes
// every kept-alive connection it sees idle, and waits for the requests in
// progress (answered with "Connection: close"). What a client sees while
// such a worker is replaced is the manager's doing, except the close of
// an idle connection that a client's next request races (see KeepAlive).
func servePlain() error {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM)
	ls, err := activation.Listeners()
	if err != nil {
		return err
	}
	if len(ls) == 0 || ls[0] == nil {
		return fmt.Errorf("no inherited socket (LISTEN_FDS=%q LISTEN_PID=%q pid=%d)",
			os.Getenv("LISTEN_FDS"), os.Getenv("LISTEN_PID"), os.Getpid())
	}
	body := fmt.Sprintf("pid=%d wid=%s\n", os.Getpid(), os.Getenv("POOLD_WID"))
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, body)
	})}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ls[0]) }()
	select {
	case err := <-errc:
		return err
	case <-stop:
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return srv.Shutdown(ctx)
}
