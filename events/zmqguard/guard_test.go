package zmqguard_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-zeromq/zmq4"
	"go.uber.org/goleak"

	"github.com/poold/poold/events/zmqguard"
	"github.com/poold/poold/events/zmqguard/zmtptest"
	"github.com/poold/poold/watcher/proctest"
)

// zmq4 v0.17.0 starts a PUB writer goroutine that its Close never stops.
var zmq4Leaks = goleak.IgnoreAnyFunction("github.com/go-zeromq/zmq4.(*pubMWriter).run")

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, zmq4Leaks) }

// waitConnsClosed checks that every guarded conn of g has gone once the
// test has closed its sockets.
func waitConnsClosed(t testing.TB, g *zmqguard.Guard) {
	t.Helper()
	t.Cleanup(func() {
		proctest.Eventually(t, "guarded conns to close", func() bool { return g.Stats().Conns == 0 })
	})
}

func newPub(t testing.TB, g *zmqguard.Guard, ep string) (zmq4.Socket, string) {
	t.Helper()
	pub := zmq4.NewPub(context.Background(), zmq4.WithLogger(quietLog()))
	gep, err := g.Endpoint(ep)
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Listen(gep); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pub.Close() })
	addr := pub.Addr()
	if addr.Network() == "tcp" {
		return pub, "tcp://" + addr.String()
	}
	return pub, "ipc://" + addr.String()
}

// subscriber is a healthy zmq4 SUB that counts what it receives.
type subscriber struct {
	sock zmq4.Socket
	n    atomic.Int64
	last atomic.Value
	done chan struct{}
}

func newSub(t testing.TB, g *zmqguard.Guard, ep, topic string) *subscriber {
	t.Helper()
	gep, err := g.Endpoint(ep)
	if err != nil {
		t.Fatal(err)
	}
	s := &subscriber{sock: zmq4.NewSub(context.Background(), zmq4.WithLogger(quietLog())), done: make(chan struct{})}
	if err := s.sock.Dial(gep); err != nil {
		t.Fatal(err)
	}
	if err := s.sock.SetOption(zmq4.OptionSubscribe, topic); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(s.done)
		for {
			msg, err := s.sock.Recv()
			if err != nil {
				return
			}
			s.last.Store(string(msg.Frames[len(msg.Frames)-1]))
			s.n.Add(1)
		}
	}()
	t.Cleanup(func() {
		s.sock.Close()
		<-s.done
	})
	return s
}

func waitTopics(t testing.TB, pub zmq4.Socket, want ...string) {
	t.Helper()
	proctest.Eventually(t, fmt.Sprintf("subscriptions %q", want), func() bool {
		have := pub.(zmq4.Topics).Topics()
		for _, w := range want {
			if !slices.Contains(have, w) {
				return false
			}
		}
		return true
	})
}

// stuckSub connects by hand, subscribes to everything and never reads.
func stuckSub(t testing.TB, addr net.Addr) *zmtptest.Peer {
	t.Helper()
	// A receive buffer under one loopback MSS would stall window updates
	// and slow the final drain in WaitClosed; 64 KiB still fills at once.
	p, err := zmtptest.Dial(addr.Network(), addr.String(), 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	if err := p.Handshake("SUB", ""); err != nil {
		t.Fatal(err)
	}
	if err := p.Send([]byte{1}); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestEndpoint(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{"tcp://127.0.0.1:5555", "gtcp://127.0.0.1:5555", ""},
		{"tcp://*:0", "gtcp://*:0", ""},
		{"ipc:///run/poold/ctl.sock", "gipc:///run/poold/ctl.sock", ""},
		{"gtcp://127.0.0.1:1", "gtcp://127.0.0.1:1", ""},
		{"inproc://x", "", `transport "inproc" is not supported`},
		{"udp://127.0.0.1:1", "", `transport "udp" is not supported`},
		{"127.0.0.1:5555", "", "want tcp://host:port or ipc:///path"},
		{"tcp://nohostport", "", "missing port"},
		{"ipc://", "", "empty socket path"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := zmqguard.Endpoint(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Endpoint(%q) = %q, %v; want error containing %q", tc.in, got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Endpoint(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

// publishBatches sends 1 MiB batches on topic "t.x" until done reports
// true, waiting after each batch until healthy has every message, so a
// healthy peer that has read everything never nears its 4 MiB cap. It
// fails the test if done is still false after limit bytes.
func publishBatches(t *testing.T, g *zmqguard.Guard, pub zmq4.Socket, healthy *subscriber, limit int64, done func() bool) int64 {
	t.Helper()
	const msgSize, batch = 32 << 10, 32
	payload := make([]byte, msgSize)
	base, sent := healthy.n.Load(), int64(0)
	for !done() {
		if sent*msgSize >= limit {
			t.Fatalf("published %d MiB and still not done; guard stats %+v", sent*msgSize>>20, g.Stats())
		}
		for range batch {
			if err := pub.Send(zmq4.NewMsgFrom([]byte("t.x"), payload)); err != nil {
				t.Fatal(err)
			}
			sent++
		}
		if !proctest.Poll(20*time.Second, func() bool { return healthy.n.Load() == base+sent }) {
			t.Fatalf("healthy subscriber has %d of %d messages after 20s; guard stats %+v", healthy.n.Load()-base, sent, g.Stats())
		}
	}
	return sent * msgSize
}

// A subscriber that never reads must not slow the others: zmq4 alone
// stalls the whole PUB once that peer's kernel buffers fill. The guard
// drops whole messages for it instead. StallTimeout is an hour, so the
// stuck peer stays connected however slowly this machine fills its
// buffers, and drops are the only possible outcome.
func TestPubStuckSubscriberDroppedNotStalling(t *testing.T) {
	g := zmqguard.New(zmqguard.Options{StallTimeout: time.Hour})
	waitConnsClosed(t, g)
	pub, ep := newPub(t, g, "tcp://127.0.0.1:0")
	stuckSub(t, pub.Addr())
	healthy := newSub(t, g, ep, "t")
	waitTopics(t, pub, "", "t")

	// Kernel buffers (up to tcp_wmem's max on the sending side) and the
	// 4 MiB guard buffer fill first; 1 GiB is a hang bound.
	n := publishBatches(t, g, pub, healthy, 1<<30, func() bool { return g.Stats().Dropped > 0 })
	dropped := g.Stats().Dropped
	// The healthy peer keeps up while the stuck one keeps losing.
	publishBatches(t, g, pub, healthy, 1<<30, func() bool { return g.Stats().Dropped > dropped })
	if st := g.Stats(); st.Evicted != 0 || st.Conns != 3 {
		t.Errorf("stats %+v: want no eviction and all 3 conns open (stuck, healthy: both ends)", st)
	}
	t.Logf("first drop after %d MiB; stats: %+v", n>>20, g.Stats())
}

// A subscriber that takes no byte for StallTimeout while data waits for it
// is evicted and its connection closed; the healthy one carries on. Drops
// may or may not come first, depending on speed; the test does not care.
func TestPubStuckSubscriberEvicted(t *testing.T) {
	g := zmqguard.New(zmqguard.Options{StallTimeout: 2 * time.Second})
	waitConnsClosed(t, g)
	pub, ep := newPub(t, g, "tcp://127.0.0.1:0")
	stuck := stuckSub(t, pub.Addr())
	healthy := newSub(t, g, ep, "t")
	waitTopics(t, pub, "", "t")

	publishBatches(t, g, pub, healthy, 1<<30, func() bool { return g.Stats().Evicted > 0 })
	if !stuck.WaitClosed(10 * time.Second) {
		t.Error("stuck subscriber's connection still open after eviction")
	}
	proctest.Eventually(t, "evicted conn to close", func() bool { return g.Stats().Conns == 2 }) // healthy: both ends
	// One more batch reaches the healthy subscriber.
	more := false
	publishBatches(t, g, pub, healthy, 1<<20, func() bool { d := more; more = true; return d })
	if st := g.Stats(); st.Evicted != 1 {
		t.Errorf("stats %+v: want exactly the stuck subscriber evicted", st)
	}
	t.Logf("stats: %+v", g.Stats())
}

// A peer that connects and says nothing must not block the accept loop.
func TestPubSilentPeerDoesNotBlockAccept(t *testing.T) {
	g := zmqguard.New(zmqguard.Options{HandshakeTimeout: 500 * time.Millisecond})
	waitConnsClosed(t, g)
	pub, ep := newPub(t, g, "tcp://127.0.0.1:0")

	silent, err := zmtptest.Dial("tcp", pub.Addr().String(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()

	start := time.Now()
	sub := newSub(t, g, ep, "")
	waitTopics(t, pub, "")
	if d := time.Since(start); d > 400*time.Millisecond {
		t.Errorf("new subscriber took %s to connect next to a silent peer", d)
	}
	proctest.Eventually(t, "subscriber to receive", func() bool {
		_ = pub.Send(zmq4.NewMsgFrom([]byte("x"), []byte("hello")))
		return sub.n.Load() > 0
	})
	if !silent.WaitClosed(10 * time.Second) {
		t.Fatal("silent peer not closed after the handshake timeout")
	}
	if st := g.Stats(); st.HandshakeTimeouts != 1 {
		t.Errorf("stats %+v: want 1 handshake timeout", st)
	}
}

// A frame header claiming 2^40 bytes panics zmq4 (makeslice); the guard
// closes that peer and the PUB carries on.
func TestPubOversizedFrameClosesPeer(t *testing.T) {
	g := zmqguard.New(zmqguard.Options{})
	waitConnsClosed(t, g)
	pub, ep := newPub(t, g, "tcp://127.0.0.1:0")

	bad, err := zmtptest.Dial("tcp", pub.Addr().String(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if err := bad.Handshake("SUB", ""); err != nil {
		t.Fatal(err)
	}
	hdr := []byte{0x02, 0, 0, 1, 0, 0, 0, 0, 0} // LONG, 2^40
	if _, err := bad.Conn.Write(hdr); err != nil {
		t.Fatal(err)
	}
	if !bad.WaitClosed(10 * time.Second) {
		t.Fatal("peer announcing a 2^40-byte frame was not closed")
	}
	if st := g.Stats(); st.Oversized != 1 {
		t.Errorf("stats %+v: want 1 oversized", st)
	}

	sub := newSub(t, g, ep, "")
	waitTopics(t, pub, "")
	proctest.Eventually(t, "subscriber to receive", func() bool {
		_ = pub.Send(zmq4.NewMsgFrom([]byte("x"), []byte("hello")))
		return sub.n.Load() > 0
	})
}

// A truncated READY property makes zmq4's metadata parser index out of
// range; the guard rejects it during the handshake.
func TestMalformedReadyRejected(t *testing.T) {
	g := zmqguard.New(zmqguard.Options{})
	waitConnsClosed(t, g)
	pub, _ := newPub(t, g, "tcp://127.0.0.1:0")
	for _, body := range [][]byte{
		append([]byte{5}, "READY\x03ab"...),                  // property name runs off the end
		append([]byte{5}, "READY\x0bSocket-Type\x00\x00"...), // value length cut short
		append([]byte{5}, "READY\x0bSocket-Type\x00\x00\x00\x09SUB"...),
		append([]byte{4}, "HELO"...),
	} {
		p, err := zmtptest.Dial("tcp", pub.Addr().String(), 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Conn.Write(append(zmtptest.Greeting(), zmtptest.Frame(0x04, body)...)); err != nil {
			t.Fatal(err)
		}
		if !p.WaitClosed(10 * time.Second) {
			t.Errorf("READY %q: connection not closed", body)
		}
		p.Close()
	}
	if st := g.Stats(); st.HandshakeErrors != 4 {
		t.Errorf("stats %+v: want 4 handshake errors", st)
	}
}

// Publishing 200 MB with a stuck subscriber keeps the heap small: the
// guard drops for that peer instead of blocking zmq4's single PUB writer,
// so zmq4's queue keeps draining. zmq4's own queue is still unbounded when
// the producer outruns that writer (it does under -race), so the PUB gets
// a high-water mark too, as events/zmqpub must set; without the guard, the
// stuck peer would block the writer and the HWM would drop every message
// for every subscriber.
func TestPubMemoryBoundedWithStuckSubscriber(t *testing.T) {
	if testing.Short() {
		t.Skip("publishes 200 MB")
	}
	// zmq4 drops at its own queue (HWM 128) what its writer has not
	// handed the guard yet: under -race on a loaded machine it dropped
	// so much that the guard's 4 MiB, behind the kernel's socket
	// buffers, never filled (1 run in 6). A 1 MiB cap fills from the
	// few dozen messages that reach it.
	g := zmqguard.New(zmqguard.Options{MaxBuffered: 1 << 20})
	waitConnsClosed(t, g)
	pub, _ := newPub(t, g, "tcp://127.0.0.1:0")
	if err := pub.SetOption(zmq4.OptionHWM, 128); err != nil {
		t.Fatal(err)
	}
	stuckSub(t, pub.Addr())
	waitTopics(t, pub, "")

	const msgSize, total = 64 << 10, 200 << 20
	var maxHeap uint64
	var ms runtime.MemStats
	for i := 0; i < total/msgSize; i++ {
		payload := make([]byte, msgSize) // fresh, as real events are
		payload[0] = byte(i)
		if err := pub.Send(zmq4.NewMsgFrom([]byte("t"), payload)); err != nil {
			t.Fatal(err)
		}
		if i%128 == 0 {
			// Live heap: what the guard and zmq4 retain, not garbage.
			runtime.GC()
			runtime.ReadMemStats(&ms)
			maxHeap = max(maxHeap, ms.HeapAlloc)
		}
	}
	const bound = 64 << 20
	t.Logf("max heap in use: %.1f MiB; stats %+v", float64(maxHeap)/(1<<20), g.Stats())
	if maxHeap > bound {
		t.Errorf("heap reached %d MiB publishing 200 MiB to a stuck subscriber; want < %d MiB", maxHeap>>20, bound>>20)
	}
	if g.Stats().Dropped == 0 {
		t.Error("no message dropped for the stuck subscriber")
	}
}

func TestIPCStaleSocketReplacedLiveRefused(t *testing.T) {
	g := zmqguard.New(zmqguard.Options{})
	waitConnsClosed(t, g)
	dir := t.TempDir()
	path := filepath.Join(dir, "pub.sock")

	// A socket file left behind by a crash: bound, then closed without unlink.
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()

	pub, ep := newPub(t, g, "ipc://"+path)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("socket file mode %v, want 0600", fi.Mode().Perm())
	}
	sub := newSub(t, g, ep, "")
	waitTopics(t, pub, "")
	proctest.Eventually(t, "subscriber to receive over ipc", func() bool {
		_ = pub.Send(zmq4.NewMsgFrom([]byte("x"), []byte("hello")))
		return sub.n.Load() > 0
	})

	// A live one: refused, and left alone.
	gep, _ := g.Endpoint("ipc://" + path)
	other := zmq4.NewPub(context.Background(), zmq4.WithLogger(quietLog()))
	defer other.Close()
	err = other.Listen(gep)
	if err == nil || !strings.Contains(err.Error(), "another poold is already listening on ipc://"+path) {
		t.Fatalf("second Listen on a live socket: %v", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("live socket file removed: %v", err)
	}

	// Not a socket at all.
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	gep, _ = g.Endpoint("ipc://" + plain)
	third := zmq4.NewPub(context.Background(), zmq4.WithLogger(quietLog()))
	defer third.Close()
	if err := third.Listen(gep); err == nil || !strings.Contains(err.Error(), "is not a socket") {
		t.Fatalf("Listen on a regular file: %v", err)
	}
}
