package zmqguard

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/poold/poold/events/zmqguard/zmtptest"
	"github.com/poold/poold/watcher/proctest"
)

// unwritten counts the messages of a buffer that did not go out whole.
func TestUnwritten(t *testing.T) {
	starts := []int{0, 10, 25} // messages of 10, 15 and 5 bytes in 30
	for _, tc := range []struct {
		written, want int
	}{
		{0, 3},
		{9, 3},
		{10, 2},
		{24, 2},
		{25, 1},
		{29, 1},
		{30, 0},
	} {
		if got := unwritten(starts, tc.written, 30); got != tc.want {
			t.Errorf("%d of 30 bytes written: %d messages unwritten, want %d", tc.written, got, tc.want)
		}
	}
	// A buffer that begins with the end of a message counts from its
	// first start; one with no start holds no message of its own.
	if got := unwritten([]int{4}, 2, 8); got != 1 {
		t.Errorf("tail then one message, 2 bytes written: %d, want 1", got)
	}
	if got := unwritten(nil, 0, 8); got != 0 {
		t.Errorf("no message: %d, want 0", got)
	}
}

// zmq4 writes a frame's header and its body in two calls, and the writer
// goroutine may take what is queued between them: the header alone, or a
// command queued before it (zmq4's READY, on a connection whose client
// sent its request at once). The body of one big message then must not
// count as a second message queued behind the first: before, a reply over
// 2*MaxBuffered to a client that read it was evicted as "outgoing buffer
// overflow" (13 in 300 such replies on a fresh connection, under load).
// Another message in flight still counts.
func TestBigMessageBehindBytesInFlight(t *testing.T) {
	body := bytes.Repeat([]byte("y"), 3<<20)
	header := binary.BigEndian.AppendUint64([]byte{flagLong}, uint64(len(body)))
	for _, tc := range []struct {
		name        string
		ahead       []byte // written first and left in flight
		split       bool   // the writer takes the header alone
		wantEvicted bool
	}{
		{name: "its own header", split: true},
		{name: "a command", ahead: zmtptest.Frame(flagCommand, []byte("\x04PONG"))},
		{name: "another message", ahead: zmtptest.Frame(0, []byte("small")), wantEvicted: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, peer := pipeConn(t)
			inFlight := func(what string, n int) {
				proctest.Eventually(t, "the writer to take "+what+" alone", func() bool {
					c.mu.Lock()
					defer c.mu.Unlock()
					return c.inflight == n
				})
			}
			if tc.ahead != nil {
				mustWrite(t, c, tc.ahead)
				inFlight("what is ahead", len(tc.ahead))
			}
			mustWrite(t, c, header)
			if tc.split {
				inFlight("the header", len(header))
			}
			_, err := c.Write(body)
			if tc.wantEvicted {
				if err == nil {
					t.Fatal("a big message behind another message in flight: queued, want the peer evicted")
				}
				return
			}
			if err != nil {
				t.Fatalf("the body of a %d-byte message behind %s in flight: %v", len(body), tc.name, err)
			}
			want := slices.Concat(tc.ahead, header, body)
			if b := readN(peer, len(want)); !bytes.Equal(b, want) {
				t.Errorf("the peer read %d bytes, want %d", len(b), len(want))
			}
		})
	}
}

// pipeConn is a client conn over net.Pipe, whose writes block until its
// peer reads, with its greeting and READY taken by the peer.
func pipeConn(t *testing.T) (*conn, net.Conn) {
	t.Helper()
	g := New(Options{MaxBuffered: 1 << 20, HandshakeTimeout: time.Hour})
	raw, peer := net.Pipe()
	c := newConn(g, raw, false)
	c.start()
	t.Cleanup(func() {
		peer.Close()
		c.Close()
	})
	hs := append(nullGreeting[:], zmtptest.Ready("DEALER", "")...)
	got := make(chan []byte, 1)
	go func() { got <- readN(peer, len(hs)) }()
	mustWrite(t, c, hs)
	<-got
	return c, peer
}

func mustWrite(t *testing.T, c *conn, b []byte) {
	t.Helper()
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
}

// readN reads n bytes from r (fewer if it ends).
func readN(r io.Reader, n int) []byte {
	b, _ := io.ReadAll(io.LimitReader(r, int64(n)))
	return b
}
