package workertest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/activation"
	"github.com/coreos/go-systemd/v22/daemon"
)

// slowWork is what one request costs a "slow" worker.
const slowWork = 20 * time.Millisecond

// serveSlow is mode "slow": a synchronous worker, like gunicorn's sync
// one: it accepts one connection, answers one request after slowWork
// ("Connection: close"), and only then accepts the next, so connections
// beyond what the pool can serve wait in the accept queue. With a notify
// socket it reports BUSY=1 while it holds a connection, BUSY=0 after.
// SIGTERM: it finishes the request in hand and exits.
func serveSlow() error {
	ls, err := activation.Listeners()
	if err != nil {
		return err
	}
	if len(ls) == 0 || ls[0] == nil {
		return fmt.Errorf("no inherited socket (LISTEN_FDS=%q)", os.Getenv("LISTEN_FDS"))
	}
	l := ls[0]
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM)
	go func() {
		<-stop
		l.Close() // the next Accept returns; the socket stays open in poold
	}()
	body := fmt.Sprintf("pid=%d wid=%s\n", os.Getpid(), os.Getenv("POOLD_WID"))
	for {
		c, err := l.Accept()
		if errors.Is(err, net.ErrClosed) {
			return nil
		}
		if err != nil {
			return err
		}
		report("BUSY=1")
		answerSlowly(c, body)
		report("BUSY=0")
	}
}

// report sends a load report on the notify socket, when poold gave one.
func report(state string) {
	if os.Getenv("NOTIFY_SOCKET") != "" {
		_, _ = daemon.SdNotify(false, state)
	}
}

func answerSlowly(c net.Conn, body string) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
		return
	}
	time.Sleep(slowWork) // the work itself
	fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
}
