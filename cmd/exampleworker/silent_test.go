package main

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/watcher/workertest"
)

// TestDrainClosesASilentConnection: a connection the worker had accepted
// and on which nothing came (a client's spare connection, a preconnect)
// held its drain until ReadHeaderTimeout, 10 s, so the worker took that
// long to exit on SIGTERM. It has no request in flight: the drain closes
// it, within its half-second window, and the worker exits. The bound
// below, half of ReadHeaderTimeout, only tells the two apart.
func TestDrainClosesASilentConnection(t *testing.T) {
	addr, sock := listenSocket(t)
	w := startWorker(t, sock, 1)
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
			w := startWorker(t, sock, 1)
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
			open := &openConns{silent: map[net.Conn]time.Time{}}
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
