package web

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/watcher/proctest"
)

// quiesceHang bounds a wait that only a defect makes long.
const quiesceHang = 30 * time.Second

// rawGet sends a GET on c and returns the status line of the answer, or
// the read's error.
func rawGet(c net.Conn, path string, wait time.Duration) (string, error) {
	if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return "", err
	}
	_ = c.SetReadDeadline(time.Now().Add(wait))
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}

// Quiesce (an upgrade's, before the exec) waits for the request the
// listener took to be answered, closes the idle kept-alive connection,
// takes no new one (it waits in the backlog, the listener's fd open)
// until resume, which answers it.
func TestQuiesceAnswersWhatItTookAndTakesNoMore(t *testing.T) {
	entered, release := make(chan struct{}, 1), make(chan struct{})
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
		io.WriteString(w, "slow\n")
	})
	h := &fakeHealth{}
	h.ready.Store(true)
	p, addr := serveProbeServer(t, ProbeOptions{Metrics: slow, Health: h})
	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	if line, err := rawGet(idle, "/healthz", quiesceHang); line != "HTTP/1.1 200 OK" {
		t.Fatalf("kept-alive /healthz: %q %v", line, err)
	}
	type answer struct {
		code int
		body string
	}
	inFlight := make(chan answer, 1)
	go func() {
		code, body := fetchNoFail("http://" + addr + "/metrics")
		inFlight <- answer{code, body}
	}()
	select {
	case <-entered:
	case a := <-inFlight:
		t.Fatalf("/metrics: %d %q, want it held in its handler", a.code, a.body)
	}
	type quiesced struct {
		n      int
		resume func()
	}
	done := make(chan quiesced, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), quiesceHang)
		defer cancel()
		n, resume := p.Quiesce(ctx)
		done <- quiesced{n, resume}
	}()
	// The idle connection is closed once the listener is quiesced.
	_ = idle.SetReadDeadline(time.Now().Add(quiesceHang))
	if n, err := idle.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("idle kept-alive connection after Quiesce: read %d bytes, %v; want EOF", n, err)
	}
	select {
	case q := <-done:
		t.Fatalf("Quiesce returned (%d in flight) before the request it took was answered", q.n)
	default:
	}
	close(release)
	if a := <-inFlight; a.code != http.StatusOK || a.body != "slow\n" {
		t.Fatalf("the request in flight at Quiesce: %d %q, want 200 slow", a.code, a.body)
	}
	q := <-done
	if q.n != 0 {
		t.Fatalf("Quiesce: %d requests in flight, want 0", q.n)
	}
	c, err := net.Dial("tcp", addr) // the backlog takes it
	if err != nil {
		t.Fatalf("connect to the quiesced listener: %v (its fd must stay open)", err)
	}
	defer c.Close()
	if line, err := rawGet(c, "/healthz", 300*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a request to the quiesced listener was answered: %q %v", line, err)
	}
	q.resume()
	_ = c.SetReadDeadline(time.Now().Add(quiesceHang))
	line, err := bufio.NewReader(c).ReadString('\n')
	if strings.TrimSpace(line) != "HTTP/1.1 200 OK" {
		t.Fatalf("the request that waited in the backlog, after resume: %q %v", line, err)
	}
}

// A server quiesced and never resumed (the exec did not happen, poold
// stops) still stops: Serve returns.
func TestQuiescedServerStops(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewProbeServer(ProbeOptions{Address: l.Addr().String(), Health: &fakeHealth{}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- p.Serve(ctx, l) }()
	proctest.Eventually(t, "Serve to take the listener", func() bool { return p.gate.Load() != nil })
	if n, _ := p.Quiesce(context.Background()); n != 0 {
		t.Fatalf("Quiesce: %d in flight, want 0", n)
	}
	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(quiesceHang):
		t.Fatalf("Serve of a quiesced server did not return within %v of its stop", quiesceHang)
	}
}

func fetchNoFail(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
