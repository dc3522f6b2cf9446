package controller_test

import (
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/poold/poold/arbiter/controller/ctlclient"
)

// cutFirst listens on loopback and cuts its first n connections short
// after the ZMTP greeting, as poold does to a client that connects as it
// re-executes itself in an upgrade; later connections go through to ep.
func cutFirst(t *testing.T, n int, ep string) string {
	t.Helper()
	return frontFirst(t, n, ep, false)
}

// frontFirst is cutFirst, or with silent, holds its first n connections
// open without a byte: a poold too busy to answer the handshake.
func frontFirst(t *testing.T, n int, ep string, silent bool) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var held []net.Conn // silent ones, closed at the end
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
		for _, c := range held {
			c.Close()
		}
	})
	greeting := make([]byte, 64)
	greeting[0], greeting[9], greeting[10] = 0xff, 0x7f, 3
	copy(greeting[12:], "NULL")
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			c, err := l.Accept()
			if err != nil {
				return
			}
			if i < n && silent {
				held = append(held, c)
				continue
			}
			if i < n {
				_, _ = c.Write(greeting)
				c.Close()
				continue
			}
			up, err := net.Dial("tcp", strings.TrimPrefix(ep, "tcp://"))
			if err != nil {
				c.Close()
				continue
			}
			wg.Add(2)
			pipe := func(dst, src net.Conn) {
				defer wg.Done()
				_, _ = io.Copy(dst, src)
				dst.Close()
				src.Close()
			}
			go pipe(up, c)
			go pipe(c, up)
		}
	}()
	return "tcp://" + l.Addr().String()
}

// TestDialRetriesAHandshakeCutShort: a connection poold accepted and then
// closed in the handshake (its old image's, at the exec of an upgrade)
// failed poolctl with exit 3 although nothing had been sent; Dial tries
// again, and the next connection reaches the new image.
func TestDialRetriesAHandshakeCutShort(t *testing.T) {
	s := serve(t, "tcp://127.0.0.1:0", newEcho().handle, nil)
	cl, err := ctlclient.Dial(cutFirst(t, 2, s.ep))
	if err != nil {
		t.Fatalf("Dial through two connections cut in the handshake: %v", err)
	}
	defer cl.Close()
	mustStatus(t, cl, "status")
}

// TestDialWithinOutlastsASlowHandshake: poolctl --timeout 10s gave up
// after 2s with "no ZeroMQ handshake in time" when poold, on a loaded
// machine, did not answer its first connection's handshake within 2s
// (r53-soak). DialWithin tries again within its bound; nothing was sent.
func TestDialWithinOutlastsASlowHandshake(t *testing.T) {
	s := serve(t, "tcp://127.0.0.1:0", newEcho().handle, nil)
	ep := frontFirst(t, 1, s.ep, true)
	cl, err := ctlclient.DialWithin(ep, 30*time.Second)
	if err != nil {
		t.Fatalf("DialWithin past one handshake that never came: %v", err)
	}
	defer cl.Close()
	mustStatus(t, cl, "status")

	// Within a bound shorter than two tries it says why, and what to do.
	_, err = ctlclient.DialWithin(frontFirst(t, 5, s.ep, true), time.Second)
	if err == nil || !strings.Contains(err.Error(), "too busy to answer") {
		t.Errorf("DialWithin 1s of silence: %v, want the handshake's timeout with what it may mean", err)
	}
}
