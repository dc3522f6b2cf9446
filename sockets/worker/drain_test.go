package worker

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/watcher/proctest"
	"github.com/poold/poold/watcher/workertest"
)

// loads are the two kinds of client a drain must not fail: those that
// keep their connections alive (wrk's way) and those that send
// "Connection: close" (nginx's default towards upstreams). Neither
// retries a failed request.
var loads = []struct {
	name  string
	start func(addr string) *workertest.KeepAlive
}{
	{"keep-alive", func(addr string) *workertest.KeepAlive { return workertest.StartKeepAlive(addr, 16, false) }},
	{"connection close", func(addr string) *workertest.KeepAlive { return workertest.StartConnectionClose(addr, 16) }},
}

// rolling starts two workers in mode sharing sock (on addr), then the
// load start, and replaces the workers one at a time, as poold's rolling
// reload does, until done says so or max were replaced. It returns how
// many were, and the load's tally.
func rolling(t *testing.T, addr string, sock *os.File, mode string, start func(string) *workertest.KeepAlive,
	max int, done func(workertest.KeepAliveResult) bool) (int, workertest.KeepAliveResult) {
	t.Helper()
	// The workers serve before the load begins: a client's first request
	// waiting for a worker's start (seconds, for a -race binary on a
	// loaded machine) would time out.
	workers := []*exec.Cmd{startWorker(t, sock, mode), startWorker(t, sock, mode)}
	k, stop := startLoad(t, start, addr)
	answered(t, k, 200)
	n := 0
	for n < max && !done(k.Snapshot()) {
		next := startWorker(t, sock, mode)
		old := workers[0]
		workers = append(workers[1:], next)
		if err := old.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if err := old.Wait(); err != nil {
			t.Errorf("worker %d's drain: %v", old.Process.Pid, err)
		}
		n++
		answered(t, k, 200)
	}
	return n, stop()
}

// TestServeLosesNoRequest: every worker replaced under either load
// drains without failing a request.
func TestServeLosesNoRequest(t *testing.T) {
	for _, tc := range loads {
		t.Run(tc.name, func(t *testing.T) {
			addr, sock := listenSocket(t)
			_, r := rolling(t, addr, sock, "serve", tc.start, 6, func(workertest.KeepAliveResult) bool { return false })
			t.Logf("%s load through 6 replaced workers: %v", tc.name, r)
			// A request the client itself held back for the drain's
			// window (its goroutine stalled on a loaded machine) met a
			// connection the draining worker closed as unused or idle, by design
			// (KeepAliveResult.Late). Every other request is answered.
			if n := r.ErrorCount() - r.Late; n > 0 {
				t.Errorf("%d requests failed: %v", n, r)
				for _, e := range r.ErrorLog {
					t.Log(e)
				}
			}
		})
	}
}

// TestShutdownAloneLosesRequests: the load TestServeLosesNoRequest holds
// Serve to does fail requests of a worker that drains with
// http.Server.Shutdown alone, the drain Serve replaces: its test is no
// weaker than that. Replacing up to 40 workers, it must see a failed
// request; should it not, Shutdown lost none here and Serve's reason to
// be is to be measured again (README "Go").
func TestShutdownAloneLosesRequests(t *testing.T) {
	for _, tc := range loads {
		t.Run(tc.name, func(t *testing.T) {
			addr, sock := listenSocket(t)
			n, r := rolling(t, addr, sock, "plain", tc.start, 40, func(r workertest.KeepAliveResult) bool { return r.ErrorCount() > 0 })
			t.Logf("%s load through %d workers drained by Shutdown: %v", tc.name, n, r)
			if r.ErrorCount() == 0 {
				t.Errorf("no request failed through %d workers drained by Shutdown alone", n)
			}
		})
	}
}

// TestDrainClosesASilentConnection: a connection the worker had accepted
// and on which nothing came (a client's spare connection, a preconnect)
// held its drain until ReadHeaderTimeout, 10 s, so the worker took that
// long to exit on SIGTERM. It has no request in flight: the drain closes
// it, within its half-second window, and the worker exits. The bound
// below, half of ReadHeaderTimeout, only tells the two apart.
func TestDrainClosesASilentConnection(t *testing.T) {
	addr, sock := listenSocket(t)
	w := startWorker(t, sock, "serve")
	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	// A request on a second connection, answered: the worker, the only
	// one accepting, took the silent one first (its queue is in order).
	other, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := io.WriteString(other, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(other), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if err := w.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	_ = silent.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := silent.Read(make([]byte, 1)); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Error("the draining worker kept a connection that sent nothing for 5 s (until ReadHeaderTimeout)")
	}
	if err := w.Wait(); err != nil {
		t.Errorf("worker's drain: %v", err)
	}
}

// TestDrainAnswersARequestInPieces: the drain closed a connection whose
// header it had read in part, as one that sent nothing, since net/http
// calls a connection active only once its whole header is in: the
// client's request was lost. Only a connection on which not a byte has
// come is closed now. The cases are workertest's "serve" drain's too.
func TestDrainAnswersARequestInPieces(t *testing.T) {
	for _, tc := range workertest.SplitCases {
		t.Run(tc.Name, func(t *testing.T) {
			addr, sock := listenSocket(t)
			w := startWorker(t, sock, "serve")
			if err := tc.Run(addr, func() error { return w.Process.Signal(syscall.SIGTERM) }); err != nil {
				t.Error(err)
			}
			if err := w.Wait(); err != nil {
				t.Errorf("worker %d's drain: %v", w.Process.Pid, err)
			}
		})
	}
}

// TestDrainClosesOnlyWhatSentNothing: the drain's closing pass closes a
// connection on which nothing has come, and keeps one whose request
// came, whole or in part, read by the server or still in the kernel (the
// case of a loaded machine). The cases are workertest's "serve" drain's
// too.
func TestDrainClosesOnlyWhatSentNothing(t *testing.T) {
	for _, tc := range workertest.SilentCases {
		t.Run(tc.Name, func(t *testing.T) {
			open := newOpenConns()
			err := tc.Run(workertest.SilentDrain{
				Listen: func(l net.Listener) net.Listener { return heardListener{l} },
				Track:  open.track,
				Pass:   func() { open.closeSilent(0) },
				Unread: unread,
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
}

// startLoad starts a load on addr, and returns it and its stop, which
// the test's end calls when the test did not.
func startLoad(t *testing.T, start func(string) *workertest.KeepAlive, addr string) (*workertest.KeepAlive, func() workertest.KeepAliveResult) {
	k := start(addr)
	var (
		once sync.Once
		r    workertest.KeepAliveResult
	)
	stop := func() workertest.KeepAliveResult {
		once.Do(func() { r = k.Stop() })
		return r
	}
	t.Cleanup(func() { stop() })
	return k, stop
}

// answered waits until the load has had n more answers.
func answered(t *testing.T, k *workertest.KeepAlive, n int) {
	t.Helper()
	want := k.Snapshot().Requests + n
	proctest.Eventually(t, "more answers", func() bool { return k.Snapshot().Requests >= want })
}
