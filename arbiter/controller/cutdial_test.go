package controller_test

import (
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/poold/poold/arbiter/controller/ctlclient"
)

// cutFirst listens on loopback and cuts its first n connections short
// after the ZMTP greeting, as poold does to a client that connects as it
// re-executes itself in an upgrade; later connections go through to ep.
func cutFirst(t *testing.T, n int, ep string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
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
