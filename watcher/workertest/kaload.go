package workertest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// KeepAlive is a load of raw HTTP/1.1 clients like wrk's: each holds one
// keep-alive connection and sends its next GET as soon as the previous
// answer is in, and it never retries. A connection the server closes
// after an answer with "Connection: close" is a clean close (the client
// dials again); one that ends while a request waits for its answer is a
// client error, as wrk counts it: "eof" when the server closed it (a
// FIN: the worker closed a connection it thought idle while the request
// was on its way), "reset" when the server's kernel answered with a
// reset (the worker closed it with the request unread in its buffer).
//
// With retry, a request that meets such a close on a connection that had
// carried requests before, with no byte of an answer read, is sent once
// more on a new connection, as browsers and Go's Transport do (RFC 9112
// 9.3.1 allows it for idempotent requests): it is counted in Raced, and
// only a failure of the retry is an error. Without retry (wrk's way) it
// is an error.
//
// StartKeepAlive starts the clients; Stop ends them and returns the
// tally. The clients are goroutines owned by the load: Stop waits for
// each.
//
// StartConnectionClose starts the same load with "Connection: close" on
// every request, as nginx talks to its upstreams by default: each request
// has a new connection of its own, and any close before its answer is an
// error.
type KeepAlive struct {
	addr  string
	retry bool
	req   []byte
	stop  chan struct{}
	wg    sync.WaitGroup

	mu  sync.Mutex
	res KeepAliveResult
}

// KeepAliveResult is what a keep-alive load saw.
type KeepAliveResult struct {
	Requests    int            // answered 200
	Dials       int            // connections opened
	CleanCloses int            // closes announced by "Connection: close"
	Raced       int            // with retry: closes met by a request, which was sent again
	Errors      map[string]int // kind ("eof", "reset", "dial", "write", "timeout", "status", "other") -> count
	// FirstEOF counts the "eof" errors of a connection's first request:
	// closed unanswered by the worker that accepted it.
	FirstEOF int
	// Late counts the "eof" and "reset" errors of requests the client
	// sent drainWindow or more after the connection's last sign of life
	// (its connect for a first request, the previous answer for a later
	// one: its goroutine stalled, on a loaded machine). A draining worker
	// closes a connection that has sent nothing for drainWindow, as one a
	// client keeps unused or idle: the client was silent that long, and
	// an HTTP client would send such a request again.
	Late int
	// ErrorLog holds up to 200 errors: the time of day, connection,
	// requests it had carried, kind.
	ErrorLog []string
	// Pids counts answers per worker ("pid N" / "pid=N" bodies).
	Pids map[string]int
}

// ErrorCount is the sum of every kind of error.
func (r KeepAliveResult) ErrorCount() int {
	n := 0
	for _, v := range r.Errors {
		n += v
	}
	return n
}

func (r KeepAliveResult) String() string {
	kinds := make([]string, 0, len(r.Errors))
	for k, v := range r.Errors {
		kinds = append(kinds, fmt.Sprintf("%s %d", k, v))
	}
	sort.Strings(kinds)
	return fmt.Sprintf("%d requests, %d dials, %d clean closes, %d raced idle closes, %d errors [%s], %d of them on a request sent late",
		r.Requests, r.Dials, r.CleanCloses, r.Raced, r.ErrorCount(), strings.Join(kinds, ", "), r.Late)
}

// StartKeepAlive starts conns clients against addr; retry says whether
// a request that raced an idle close is sent again (see KeepAlive).
func StartKeepAlive(addr string, conns int, retry bool) *KeepAlive {
	return startLoad(addr, conns, retry, keepAliveReq)
}

// StartConnectionClose starts conns clients against addr that each send
// one request per connection, with "Connection: close" (see KeepAlive).
func StartConnectionClose(addr string, conns int) *KeepAlive {
	return startLoad(addr, conns, false, connectionCloseReq)
}

func startLoad(addr string, conns int, retry bool, req []byte) *KeepAlive {
	k := &KeepAlive{addr: addr, retry: retry, req: req, stop: make(chan struct{}),
		res: KeepAliveResult{Errors: map[string]int{}, Pids: map[string]int{}}}
	for i := 0; i < conns; i++ {
		k.wg.Add(1)
		go k.client(i)
	}
	return k
}

// Snapshot returns the tally so far.
func (k *KeepAlive) Snapshot() KeepAliveResult {
	k.mu.Lock()
	defer k.mu.Unlock()
	r := k.res
	r.Errors = make(map[string]int, len(k.res.Errors))
	for a, b := range k.res.Errors {
		r.Errors[a] = b
	}
	r.Pids = make(map[string]int, len(k.res.Pids))
	for a, b := range k.res.Pids {
		r.Pids[a] = b
	}
	r.ErrorLog = append([]string(nil), k.res.ErrorLog...)
	return r
}

// Stop ends the clients (a request in flight is finished first) and
// returns the tally.
func (k *KeepAlive) Stop() KeepAliveResult {
	close(k.stop)
	k.wg.Wait()
	return k.Snapshot()
}

func (k *KeepAlive) stopped() bool {
	select {
	case <-k.stop:
		return true
	default:
		return false
	}
}

// client is one connection's loop: dial, then GET after GET until the
// connection ends or the load stops.
func (k *KeepAlive) client(id int) {
	defer k.wg.Done()
	retrying := false
	for !k.stopped() || retrying {
		dialing := time.Now()
		c, err := net.DialTimeout("tcp", k.addr, 10*time.Second)
		k.count(func(r *KeepAliveResult) { r.Dials++ })
		if err != nil {
			k.fail(id, 0, "dial", err)
			retrying = false
			continue
		}
		retrying = k.serveConn(id, &counted{Conn: c, dialing: dialing, dialed: time.Since(dialing)})
		c.Close()
	}
}

// counted counts the bytes read from a connection, and notes how long
// after the dial began its first request was sent.
type counted struct {
	net.Conn
	n         int
	dialing   time.Time     // when the dial began
	dialed    time.Duration // how long the dial took
	firstSent time.Duration // from the dial's start to the end of the first request's write
}

func (c *counted) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n += n
	return n, err
}

var (
	keepAliveReq       = []byte("GET / HTTP/1.1\r\nHost: keepalive\r\n\r\n")
	connectionCloseReq = []byte("GET / HTTP/1.1\r\nHost: keepalive\r\nConnection: close\r\n\r\n")
)

// serveConn sends requests on c until it ends or the load stops. It
// reports whether the last request raced an idle close and is to be sent
// again on a new connection.
func (k *KeepAlive) serveConn(id int, c *counted) (retry bool) {
	br := bufio.NewReader(c)
	var answered time.Time // the end of the previous answer
	for n := 0; n == 0 || !k.stopped(); n++ {
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		before := c.n
		silent := time.Since(answered) // for n > 0
		_, err := c.Write(k.req)
		if n == 0 {
			c.firstSent = time.Since(c.dialing)
		}
		if err != nil {
			return k.failed(id, n, "write", err, n > 0)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			kind := kindOf(err)
			late := n > 0 && silent >= drainWindow
			if n == 0 {
				late = c.firstSent >= drainWindow
				err = fmt.Errorf("%w (sent %v after the dial began, which took %v)", err, c.firstSent.Round(time.Millisecond), c.dialed.Round(time.Millisecond))
			} else {
				err = fmt.Errorf("%w (sent %v after the previous answer)", err, silent.Round(time.Millisecond))
			}
			if late && (kind == "eof" || kind == "reset") {
				k.count(func(r *KeepAliveResult) { r.Late++ })
			}
			return k.failed(id, n, kindOf(err), err, n > 0 && c.n == before)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			k.fail(id, n, kindOf(err), err)
			return false
		}
		if resp.StatusCode != http.StatusOK {
			k.fail(id, n, "status", errors.New(resp.Status))
			return false
		}
		answered = time.Now()
		pid := strings.TrimSpace(string(body))
		k.count(func(r *KeepAliveResult) {
			r.Requests++
			r.Pids[pid]++
			if resp.Close {
				r.CleanCloses++
			}
		})
		if resp.Close {
			return false
		}
	}
	return false
}

// failed records a request's failure. One that raced the server's close
// of a reused connection before any byte of its answer is, with retry,
// counted as raced and to be sent again.
func (k *KeepAlive) failed(id, n int, kind string, err error, raced bool) bool {
	if raced && k.retry && (kind == "eof" || kind == "reset") {
		k.count(func(r *KeepAliveResult) { r.Raced++ })
		return true
	}
	k.fail(id, n, kind, err)
	return false
}

func kindOf(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "reset"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	return "other"
}

func (k *KeepAlive) fail(id, n int, kind string, err error) {
	if k.stopped() && kind == "timeout" {
		return
	}
	k.count(func(r *KeepAliveResult) {
		r.Errors[kind]++
		if kind == "eof" && n == 0 {
			r.FirstEOF++
		}
		if len(r.ErrorLog) < 200 {
			r.ErrorLog = append(r.ErrorLog, fmt.Sprintf("%s conn %d after %d requests: %s: %v",
				time.Now().Format("15:04:05.000"), id, n, kind, err))
		}
	})
}

func (k *KeepAlive) count(f func(*KeepAliveResult)) {
	k.mu.Lock()
	f(&k.res)
	k.mu.Unlock()
}
