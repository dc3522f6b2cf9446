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
	"golang.org/x/sys/unix"
)

// slowWork is what one request costs a "slow" worker.
const slowWork = 20 * time.Millisecond

// serveSlow is mode "slow": a synchronous worker, like gunicorn's sync
// one: it accepts one connection, answers one request after slowWork
// ("Connection: close"), and only then accepts the next, so connections
// beyond what the pool can serve wait in the accept queue. With a notify
// socket it reports BUSY=1 while it holds a connection, BUSY=0 after.
// SIGTERM: it finishes the request in hand and exits. Mode "lagging" is
// the same worker accepting acceptLag late (lateAccept).
func serveSlow(lag time.Duration) error {
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
	accept := l.Accept
	if lag > 0 {
		if accept, err = lateAccept(l, lag); err != nil {
			return err
		}
	}
	for {
		c, err := accept()
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

// acceptLag is how late a "lagging" worker accepts a connection it saw
// waiting: longer than two of poold's readings of the queue.
const acceptLag = 250 * time.Millisecond

// lateAccept is mode "lagging"'s accept: a sync worker on a loaded host,
// which takes a while to wake up and accept once a connection waits
// (every idle worker wakes, one takes it), so a connection sits in the
// accept queue though workers are idle.
func lateAccept(l net.Listener, lag time.Duration) (func() (net.Conn, error), error) {
	tl, ok := l.(*net.TCPListener)
	if !ok {
		return nil, fmt.Errorf("mode lagging needs a TCP socket, got %T", l)
	}
	rc, err := tl.SyscallConn()
	if err != nil {
		return nil, err
	}
	return func() (net.Conn, error) {
		for {
			waiting := false
			if err := rc.Control(func(fd uintptr) {
				n, _ := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 50)
				waiting = n > 0
			}); err != nil {
				return nil, err // closed by SIGTERM
			}
			if !waiting {
				continue
			}
			time.Sleep(lag) // the worker's slow wake-up
			_ = tl.SetDeadline(time.Now().Add(time.Millisecond))
			c, err := tl.Accept()
			if errors.Is(err, os.ErrDeadlineExceeded) {
				continue // another worker took it
			}
			return c, err
		}
	}, nil
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
