package worker

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/watcher/proctest"
)

// echoHijacker hijacks each request, answers 101 and then echoes lines
// until its client closes: a WebSocket's way, and x/net's h2c handler's
// (it hijacks every HTTP/2 connection with prior knowledge).
func echoHijacker(t *testing.T) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		defer c.Close()
		fmt.Fprint(rw, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		for rw.Flush() == nil {
			line, err := rw.ReadString('\n')
			if err != nil {
				return
			}
			rw.WriteString(line)
		}
	})
}

// TestServeWaitsForHijackedConnections: the drain counted a hijacked
// connection as closed, so Serve returned, and the worker exited, while
// x/net's h2c handler was still serving HTTP/2 streams on it (or a
// WebSocket its messages): every reload cut them all. Serve now waits
// for the hijacker to close it, and runs srv's RegisterOnShutdown
// functions meanwhile: that is where to tell such connections to end.
func TestServeWaitsForHijackedConnections(t *testing.T) {
	for _, how := range []string{"plain", "ServeTLS", "tls.NewListener"} {
		t.Run(how, func(t *testing.T) {
			s := serveTLS(t, how, echoHijacker(t), nil)
			shut := make(chan struct{})
			s.srv.RegisterOnShutdown(func() { close(shut) })
			var c net.Conn
			var err error
			if how == "plain" {
				c, err = net.Dial("tcp", s.addr)
			} else {
				c, err = tls.Dial("tcp", s.addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(hang))
			br := bufio.NewReader(c)
			if _, err := io.WriteString(c, "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(br, nil)
			if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("upgrade: %v %v", resp, err)
			}
			s.cancel()
			select {
			case <-shut:
			case <-time.After(hang):
				t.Fatalf("RegisterOnShutdown functions not run %v into the drain", hang)
			}
			if _, err := io.WriteString(c, "ping\n"); err != nil {
				t.Fatal(err)
			}
			if line, err := br.ReadString('\n'); line != "ping\n" {
				t.Fatalf("hijacked connection echoed %q, %v during the drain", line, err)
			}
			select {
			case err := <-s.done:
				t.Fatalf("Serve returned (%v) while a hijacked connection was open", err)
			default:
			}
			c.Close()
			s.drained(t)
		})
	}
}

// TestServeH2CLosesNoRequest: h2c clients (HTTP/2 with prior knowledge,
// several connections, one of them idle) through workers replaced one
// at a time, as poold's rolling reload does: no request fails, and each
// worker's drain ends (the idle connection is sent GOAWAY) well before
// the bound that catches a drain held until IdleTimeout or forever.
func TestServeH2CLosesNoRequest(t *testing.T) {
	addr, sock := listenSocket(t)
	workers := []*exec.Cmd{startWorker(t, sock, "h2c"), startWorker(t, sock, "h2c")}
	idle := h2cTransport()
	defer idle.CloseIdleConnections()
	if err := h2cGet(idle, addr); err != nil {
		t.Fatal(err)
	}
	load := startH2CLoad(addr, 4, 4)
	defer load.stop()
	for range 4 {
		next := startWorker(t, sock, "h2c")
		old := workers[0]
		workers = append(workers[1:], next)
		want := load.answered.Load() + 100
		proctest.Eventually(t, "100 more h2c answers", func() bool { return load.answered.Load() >= want })
		if err := old.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- old.Wait() }()
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("worker %d's drain: %v", old.Process.Pid, err)
			}
		case <-time.After(hang):
			t.Fatalf("worker %d still draining %v after SIGTERM", old.Process.Pid, hang)
		}
	}
	want := load.answered.Load() + 100
	proctest.Eventually(t, "100 more h2c answers", func() bool { return load.answered.Load() >= want })
	errs := load.stop()
	t.Logf("h2c load through 4 replaced workers: %d answered, %d failed", load.answered.Load(), len(errs))
	for _, e := range errs {
		t.Errorf("request failed: %v", e)
	}
}

// h2cTransport speaks HTTP/2 with prior knowledge only.
func h2cTransport() *http.Transport {
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	return tr
}

func h2cGet(tr *http.Transport, addr string) error {
	resp, err := (&http.Client{Transport: tr, Timeout: hang}).Get("http://" + addr + "/")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && (resp.ProtoMajor != 2 || !strings.HasPrefix(string(b), "hello from pid")) {
		err = fmt.Errorf("answered %s %q", resp.Proto, b)
	}
	return err
}

// h2cLoad sends GETs over h2c from n goroutines on each of conns
// transports (one HTTP/2 connection each, mostly), none retried by the
// test (Go's transport retries what the server did not process, as
// HTTP/2 allows).
type h2cLoad struct {
	answered atomic.Int64
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	mu       sync.Mutex
	errs     []error
	once     sync.Once
}

func startH2CLoad(addr string, conns, n int) *h2cLoad {
	ctx, cancel := context.WithCancel(context.Background())
	l := &h2cLoad{cancel: cancel}
	for range conns {
		tr := h2cTransport()
		for range n {
			l.wg.Add(1)
			go func() {
				defer l.wg.Done()
				defer tr.CloseIdleConnections()
				for ctx.Err() == nil {
					if err := h2cGet(tr, addr); err != nil {
						l.mu.Lock()
						l.errs = append(l.errs, err)
						l.mu.Unlock()
						continue
					}
					l.answered.Add(1)
				}
			}()
		}
	}
	return l
}

func (l *h2cLoad) stop() []error {
	l.once.Do(func() { l.cancel(); l.wg.Wait() })
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.errs
}
