package ctlclient

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-zeromq/zmq4"

	"github.com/poold/poold/events/zmqguard"
)

// Connecting: the dial, its handshake bound and retries, and the errors
// that say why poold cannot be reached. client.go is what runs on a
// connection.

// clientGuard guards client connections whose handshake must come
// within hs: replies (stats of many processes) may be larger than
// requests. A guard's handshake bound is fixed and zmq4 cannot forget a
// transport, so there is one guard per bound, kept: at most
// handshakeTimeout/handshakeStep of them (handshakeWithin).
func clientGuard(hs time.Duration) *zmqguard.Guard {
	guardsMu.Lock()
	defer guardsMu.Unlock()
	g := guards[hs]
	if g == nil {
		g = zmqguard.New(zmqguard.Options{MaxFrame: 256 << 20, HandshakeTimeout: hs})
		guards[hs] = g
	}
	return g
}

var (
	guardsMu sync.Mutex
	guards   = make(map[time.Duration]*zmqguard.Guard)
)

// Dial connects to endpoint: it fails at once with ErrUnreachable if
// nobody listens, and within 2s if the peer does not speak ZMTP. A
// handshake the peer cut short is tried again for up to cutRetry: poold
// re-executing itself in an upgrade accepts a connection and closes it
// at the exec, and nothing was sent on it yet.
func Dial(endpoint string) (*Client, error) {
	return dialUntil(endpoint, time.Now().Add(cutRetry), handshakeTimeout)
}

// dialUntil is Dial with the handshake bounded by hs and retries of a
// handshake cut short by deadline. A try that lasted its whole bound
// was not cut by the peer but closed by the guard's deadline (zmq4 may
// report either the same way): it is not tried again here.
func dialUntil(endpoint string, deadline time.Time, hs time.Duration) (*Client, error) {
	backoff := 10 * time.Millisecond
	for {
		start := time.Now()
		c, err := dial(endpoint, hs)
		if err == nil || !handshakeCut(err) || time.Since(start) >= hs || time.Now().Add(backoff).After(deadline) {
			return c, err
		}
		t := time.NewTimer(backoff)
		<-t.C
		backoff = min(2*backoff, 200*time.Millisecond)
	}
}

// DialWithin is Dial, also trying again, until d has passed, a handshake
// that did not come within its 2s: a loaded machine, or a poold too busy
// to answer for a while, answers a later try, and nothing was sent yet.
// A peer that is not ZeroMQ then takes d to be told apart. Every try's
// handshake, and the retries of a handshake cut short, end by d: a
// `poolctl --timeout 1s` at a wrong endpoint took 5s to give up.
func DialWithin(endpoint string, d time.Duration) (*Client, error) {
	start := time.Now()
	deadline := start.Add(d)
	tries := 0
	for {
		c, err := dialUntil(endpoint, deadline, handshakeWithin(time.Until(deadline)))
		tries++
		if err == nil || !handshakeLate(err) || time.Until(deadline) < handshakeStep {
			if err != nil && tries > 1 {
				waited := time.Since(start).Round(100 * time.Millisecond)
				var ue *UnreachableError
				if errors.As(err, &ue) && handshakeLate(ue.Err) {
					ue.Reason = noHandshake(fmt.Sprintf("in %d tries over %v", tries, waited))
				}
				err = fmt.Errorf("%w (%d tries in %v)", err, tries, waited)
			}
			return c, err
		}
	}
}

// handshakeTimeout bounds one ZMTP handshake of a client connection.
const handshakeTimeout = 2 * time.Second

// handshakeStep is the granularity of a shorter handshake bound: a dial
// with less than handshakeTimeout left waits that, rounded up to it.
const handshakeStep = 100 * time.Millisecond

// handshakeWithin is the handshake bound of a dial with left to go.
func handshakeWithin(left time.Duration) time.Duration {
	if left >= handshakeTimeout {
		return handshakeTimeout
	}
	return max(handshakeStep, (left+handshakeStep-1)/handshakeStep*handshakeStep)
}

// handshakeLate: the handshake did not come in time. The guard's
// deadline closes the connection under zmq4, which then may report the
// closed connection rather than the deadline; a handshake cut short by
// the peer (an upgrade's exec) is worth another try too.
func handshakeLate(err error) bool {
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) || handshakeCut(err)
}

// cutRetry bounds Dial's retries of a handshake cut short: an upgrade's
// exec and the new image's start take well under a second.
const cutRetry = 3 * time.Second

// handshakeCut tells whether err is a connection the peer closed in the
// ZMTP handshake (end of stream or a reset), as opposed to nobody
// listening or a peer that is not ZeroMQ.
func handshakeCut(err error) bool {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed) {
		return true
	}
	// zmq4 flattens the cause into its message. A write on a connection
	// zmq4 has itself closed, having read the peer's end of stream first,
	// is the same cut.
	msg := err.Error()
	return strings.HasSuffix(msg, ": EOF") || strings.HasSuffix(msg, ": unexpected EOF") || strings.Contains(msg, "connection reset by peer") ||
		strings.Contains(msg, "use of closed network connection")
}

// DialContext is Dial, retrying while the endpoint is unreachable (poold
// still starting) until ctx ends.
func DialContext(ctx context.Context, endpoint string) (*Client, error) {
	backoff := 20 * time.Millisecond
	for {
		c, err := dial(endpoint, handshakeTimeout)
		if err == nil || !errors.Is(err, ErrUnreachable) {
			return c, err
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
		backoff = min(2*backoff, 500*time.Millisecond)
	}
}

func dial(endpoint string, hs time.Duration) (*Client, error) {
	gep, err := clientGuard(hs).Endpoint(endpoint)
	if err != nil {
		return nil, fmt.Errorf("controller: %w", err)
	}
	if path, ok := strings.CutPrefix(endpoint, "ipc://"); ok && !strings.HasPrefix(path, "@") {
		if _, err := os.Stat(path); err != nil {
			return nil, unreachable(endpoint, err, hs)
		}
	}
	sock := zmq4.NewDealer(context.Background(),
		zmq4.WithDialerMaxRetries(0), // we retry ourselves (DialContext); zmq4 gives up after 2.5s anyway
		zmq4.WithLogger(log.New(io.Discard, "", 0)))
	if err := sock.Dial(gep); err != nil {
		sock.Close()
		return nil, unreachable(endpoint, err, hs)
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	c := &Client{
		Timeout:  DefaultTimeout,
		endpoint: endpoint,
		sock:     sock,
		pending:  make(map[string]chan []byte),
		prefix:   hex.EncodeToString(rnd[:]) + "-",
		done:     make(chan struct{}),
	}
	go c.readLoop()
	return c, nil
}

// unreachable says why, and what to do, for the errors a user meets.
// hs is the handshake's bound.
func unreachable(ep string, err error, hs time.Duration) error {
	ipc := strings.HasPrefix(ep, "ipc://")
	var why string
	switch {
	case errors.Is(err, os.ErrNotExist):
		why = "no such socket: is poold running? set --endpoint or POOLCTL_ENDPOINT"
	case errors.Is(err, syscall.ECONNREFUSED) && ipc:
		why = "connection refused: stale socket file, poold is not running"
		if kind := notSocket(strings.TrimPrefix(ep, "ipc://")); kind != "" {
			why = "connection refused: " + kind + ", not a socket: check --endpoint or POOLCTL_ENDPOINT; poold's control socket is its [arbiter] endpoint"
		}
	case errors.Is(err, syscall.ECONNREFUSED):
		why = "connection refused: is poold running? set --endpoint or POOLCTL_ENDPOINT"
	case errors.Is(err, syscall.EAGAIN) && ipc:
		why = "the socket's queue of connections is full: what listens there accepts none (a hung poold, or not poold's control socket; check --endpoint)"
	case errors.Is(err, os.ErrPermission):
		why = "permission denied: run as poold's user"
	case errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) ||
		strings.Contains(err.Error(), "use of closed network connection"): // the guard's deadline, as zmq4 reports it
		why = noHandshake("within " + hs.String())
	default:
		why = err.Error()
	}
	return &UnreachableError{Endpoint: ep, Reason: why, Err: err}
}

// notSocket says what path is when it exists and is not a socket ("a
// regular file", "a directory"), else "".
func notSocket(path string) string {
	fi, err := os.Stat(path)
	switch {
	case err != nil || fi.Mode()&os.ModeSocket != 0:
		return ""
	case fi.Mode().IsRegular():
		return "a regular file"
	case fi.IsDir():
		return "a directory"
	}
	return "a " + fi.Mode().Type().String() + " file"
}

// noHandshake is the reason for handshakes that did not come (when).
func noHandshake(when string) string {
	return "no ZeroMQ handshake " + when + ": poold is too busy to answer (try a longer --timeout), or this is not poold's control endpoint (check --endpoint)"
}

// UnreachableError is a failed connection to poold: Reason says the likely
// cause and what to do. It matches ErrUnreachable with errors.Is and
// unwraps to the underlying error.
type UnreachableError struct {
	Endpoint string
	Reason   string
	Err      error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("%v at %s: %s", ErrUnreachable, e.Endpoint, e.Reason)
}

// Is makes errors.Is(err, ErrUnreachable) true.
func (e *UnreachableError) Is(target error) bool { return target == ErrUnreachable }

func (e *UnreachableError) Unwrap() error { return e.Err }
