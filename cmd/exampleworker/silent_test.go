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
)

// TestDrainClosesASilentConnection: a connection the worker had accepted
// and on which nothing came (a client's spare connection, a preconnect)
// held its drain until ReadHeaderTimeout, 10 s, so the worker took that
// long to exit on SIGTERM. It has no request in flight: the drain closes
// it, within its half-second window, and the worker exits. The bound
// below, half of ReadHeaderTimeout, only tells the two apart.
func TestDrainClosesASilentConnection(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	sock := socketFile(t, l.(*net.TCPListener))
	defer sock.Close()
	w := startWorker(t, sock, 1)
	silent, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	// A request on a second connection, answered: the worker, the only
	// one accepting, took the silent one first (its queue is in order).
	other, err := net.Dial("tcp", l.Addr().String())
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
