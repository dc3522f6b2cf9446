package workertest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
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
//
// For tests, PLAIN_LOAD_TIME (a duration) holds it back before it takes
// its socket, as an application that loads for a while, and
// PLAIN_TIMES_DIR receives files listen.PID and term.PID holding when it
// took its socket and when SIGTERM came (unix nanoseconds).
func servePlain() error {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM)
	if d, err := time.ParseDuration(os.Getenv("PLAIN_LOAD_TIME")); err == nil {
		select {
		case <-time.After(d): // loading
		case <-stop:
			return nil
		}
	}
	stamp("listen")
	ls, err := activation.Listeners()
	if err != nil {
		return err
	}
	if len(ls) == 0 || ls[0] == nil {
		return fmt.Errorf("no inherited socket (LISTEN_FDS=%q LISTEN_PID=%q pid=%d)",
			os.Getenv("LISTEN_FDS"), os.Getenv("LISTEN_PID"), os.Getpid())
	}
	body := fmt.Sprintf("pid=%d wid=%s\n", os.Getpid(), os.Getenv("POOLD_WID"))
	d := &dropped{read: map[net.Conn]int{}, handled: map[net.Conn]int{}}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.handle(r)
		fmt.Fprint(w, body)
	}), ConnState: d.state, ConnContext: withConn}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ls[0]) }()
	select {
	case err := <-errc:
		return err
	case <-stop:
	}
	stamp("term")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = srv.Shutdown(ctx)
	if n := d.count(); n > 0 {
		fmt.Fprintf(os.Stderr, "%s %d\n", DroppedInShutdown, n)
	}
	return err
}

// DroppedInShutdown begins the line a plain worker writes on stderr at its
// exit when net/http dropped requests unanswered during its Shutdown: a
// request read once Shutdown has begun, on a connection accepted just
// before, gets no answer (conn.serve returns; golang/go#75591). The client
// sees its new connection close. It is the worker's own loss, whatever
// its manager does; the count lets tests tell it from poold's doing.
const DroppedInShutdown = "plain worker: requests read during Shutdown and dropped unanswered (golang/go#75591):"

// dropped counts, per connection, the requests net/http read (each one
// turns the connection active) and those it handed to the handler; what a
// closed connection read and never handled was dropped. It only observes:
// the worker serves exactly as without it.
type dropped struct {
	mu      sync.Mutex
	read    map[net.Conn]int
	handled map[net.Conn]int
	n       int
}

type connKey struct{}

func withConn(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

func (d *dropped) handle(r *http.Request) {
	c, _ := r.Context().Value(connKey{}).(net.Conn)
	d.mu.Lock()
	d.handled[c]++
	d.mu.Unlock()
}

func (d *dropped) state(c net.Conn, s http.ConnState) {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch s {
	case http.StateActive:
		d.read[c]++
	case http.StateClosed, http.StateHijacked:
		d.n += max(d.read[c]-d.handled[c], 0)
		delete(d.read, c)
		delete(d.handled, c)
	}
}

// count is the total once Shutdown has returned. net/http stops tracking a
// connection before it runs the StateClosed hook, so a connection may
// still be on the books: it is closed all the same, and counts.
func (d *dropped) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := d.n
	for c, read := range d.read {
		n += max(read-d.handled[c], 0)
	}
	return n
}

// stamp writes the time of event to PLAIN_TIMES_DIR/event.PID, if set.
func stamp(event string) {
	if dir := os.Getenv("PLAIN_TIMES_DIR"); dir != "" {
		name := fmt.Sprintf("%s/%s.%d", dir, event, os.Getpid())
		if err := os.WriteFile(name, []byte(strconv.FormatInt(time.Now().UnixNano(), 10)), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "plain worker:", err)
		}
	}
}
