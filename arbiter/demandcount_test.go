package arbiter

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/poold/poold/watcher/proctest"
	"golang.org/x/sys/unix"
)

// listenerFD is a loopback TCP listener and a duplicate of its fd, as a
// plan carries it; the monitor closes the duplicate with its plan.
func listenerFD(t *testing.T) (net.Listener, int) {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	f, err := l.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	return l, fd
}

// TestIdleTimeoutDoesNotDumpEveryReading: the monitor of a warm pool with
// idle_timeout = "10m" counted its connections (a sock_diag dump that
// walks the host's whole connection table) at each 100 ms reading: 4 such
// idle pools cost 5.6 % of a core. Over 20 readings it now counts once.
func TestIdleTimeoutDoesNotDumpEveryReading(t *testing.T) {
	_, fd := listenerFD(t)
	var readings atomic.Int64
	mon, err := newDemandMon(hclog.NewNullLogger(), func(m any) bool {
		if len(m.(demandMsg).samples) > 0 {
			readings.Add(1)
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	before := inetDumps.Load()
	mon.setPlan([]demandWatch{warmWatch(1, fd, 10*time.Minute)})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); mon.run(ctx) }()
	defer func() { cancel(); mon.wake(); wg.Wait() }()
	proctest.Eventually(t, "20 readings", func() bool { return readings.Load() >= 20 })
	if n := inetDumps.Load() - before; n > 2 {
		t.Fatalf("%d sock_diag dumps in %d readings of an idle pool with idle_timeout 10m, want 1 (every idle_timeout/%d)", n, readings.Load(), idleCounts)
	}
}

// TestConnsOfKeepsTheLastCount: between two counts the last one stands,
// so a pool goes idle at most idle_timeout/32 late and never early; a
// pool without idle_timeout is counted only while connections wait, from
// the second reading of a queue, at most every burstCount.
func TestConnsOfKeepsTheLastCount(t *testing.T) {
	l, fd := listenerFD(t)
	defer unix.Close(fd)
	c, err := net.Dial("tcp4", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	proctest.Eventually(t, "1 connection on the port", func() bool { n, err := tcpConns(fd); return err == nil && n == 1 })
	t0 := time.Unix(1000, 0)
	idle := warmWatch(1, fd, 32*time.Second) // counted every second
	counts := map[uint64]connCount{}
	dumps := func(w demandWatch, queue int, at time.Duration, want int) int64 {
		t.Helper()
		before := inetDumps.Load()
		if got := connsOf(w, queue, counts, t0.Add(at)).n; got != want {
			t.Fatalf("watcher %d at %v, queue %d: %d connections, want %d", w.id, at, queue, got, want)
		}
		return inetDumps.Load() - before
	}
	if dumps(idle, 0, 0, 1) != 1 {
		t.Fatal("the first reading of a pool with idle_timeout did not count")
	}
	s.Close()
	c.Close()
	proctest.Eventually(t, "the connection closed", func() bool { n, err := tcpConns(fd); return err == nil && n == 0 })
	for at := 100 * time.Millisecond; at < time.Second; at += 100 * time.Millisecond {
		if dumps(idle, 0, at, 1) != 0 { // the last count stands
			t.Fatalf("counted again at %v, before idle_timeout/%d", at, idleCounts)
		}
	}
	if dumps(idle, 0, time.Second, 0) != 1 {
		t.Fatal("not counted again after idle_timeout/32")
	}

	busy := warmWatch(2, fd, 0)
	for at := time.Duration(0); at < 3*time.Second; at += 100 * time.Millisecond {
		if dumps(busy, 0, at, -1) != 0 {
			t.Fatalf("a pool without idle_timeout counted at %v with nothing waiting", at)
		}
	}
	waiting, err := net.Dial("tcp4", l.Addr().String()) // never accepted
	if err != nil {
		t.Fatal(err)
	}
	defer waiting.Close()
	proctest.Eventually(t, "the waiting connection on the port", func() bool { n, err := tcpConns(fd); return err == nil && n == 1 })
	if dumps(busy, 1, 3*time.Second, -1) != 0 {
		t.Fatal("the first reading of a queue counted")
	}
	var n int64
	for at := 3100 * time.Millisecond; at < 4100*time.Millisecond; at += 100 * time.Millisecond {
		n += dumps(busy, 1, at, 1)
	}
	if n != 2 {
		t.Fatalf("%d counts in a second of a waiting queue, want 2 (every %v)", n, burstCount)
	}
	if dumps(busy, 0, 5*time.Second, -1) != 0 {
		t.Fatal("a count older than 2 x burstCount was shown, or counted with nothing waiting")
	}
}

// TestConnsOfCountsAgainForAQueue: the scaler holds a growth back while a
// worker holds no connection, so the count it is given must not predate
// the queue: a count of 4 taken before a burst of 50 would say the
// workers are idle. At the second reading of a queue, a count older than
// the queue is taken again; a queue of one reading costs no count.
func TestConnsOfCountsAgainForAQueue(t *testing.T) {
	l, fd := listenerFD(t)
	defer unix.Close(fd)
	t0 := time.Unix(1000, 0)
	w := warmWatch(1, fd, 32*time.Second) // counted every second otherwise
	counts := map[uint64]connCount{}
	read := func(queue int, at time.Duration) (conns int, dumps int64) {
		before := inetDumps.Load()
		conns = connsOf(w, queue, counts, t0.Add(at)).n
		return conns, inetDumps.Load() - before
	}
	if n, d := read(0, 0); n != 0 || d != 1 {
		t.Fatalf("first reading: %d connections in %d counts, want 0 in 1", n, d)
	}
	c, err := net.Dial("tcp4", l.Addr().String()) // waits, not accepted
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	proctest.Eventually(t, "1 connection on the port", func() bool { n, err := tcpConns(fd); return err == nil && n == 1 })
	for i, r := range []struct {
		queue       int
		at          time.Duration
		conns       int
		dumps       int64
		explanation string
	}{
		{1, 100 * time.Millisecond, 0, 0, "one reading of a queue: the last count stands"},
		{0, 200 * time.Millisecond, 0, 0, "the queue is gone"},
		{1, 300 * time.Millisecond, 0, 0, "a queue again, first reading"},
		{1, 400 * time.Millisecond, 1, 1, "second reading: the count predates the queue"},
		{1, 500 * time.Millisecond, 1, 0, "third reading: the count is of this queue"},
	} {
		if n, d := read(r.queue, r.at); n != r.conns || d != r.dumps {
			t.Fatalf("reading %d at %v, queue %d (%s): %d connections in %d counts, want %d in %d",
				i+1, r.at, r.queue, r.explanation, n, d, r.conns, r.dumps)
		}
	}
}

// TestConnsOfCountsAQueueBelowItsCount: gunicorn sync answers and closes
// a connection per request, so the count taken just after a queue of one
// client was read often found it already gone (0 open, 1 waiting). Such
// a count is of this reading (counted): the queue drained. A count lower
// than the queue and of an earlier reading says nothing of this queue (it
// grew since, or had drained then), so it is taken again; one that is not
// lower stands for burstCount. The scaler took each such count for one
// from before the queue, and grew the pool: 3 -> 4 under wrk -c1, 3 -> 7
// under -c2.
func TestConnsOfCountsAQueueBelowItsCount(t *testing.T) {
	l, fd := listenerFD(t)
	defer unix.Close(fd)
	t0 := time.Unix(1000, 0)
	w := warmWatch(1, fd, 0)
	counts := map[uint64]connCount{}
	check := func(i int, queue int, at time.Duration, conns int, counted bool, dumps int64, why string) {
		t.Helper()
		before := inetDumps.Load()
		got := connsOf(w, queue, counts, t0.Add(at))
		n, c := got.n, got.counted
		if d := inetDumps.Load() - before; n != conns || c != counted || d != dumps {
			t.Fatalf("reading %d at %v, queue %d (%s): %d connections (counted at this reading: %v) in %d counts, want %d (%v) in %d",
				i, at, queue, why, n, c, d, conns, counted, dumps)
		}
	}
	// Queues the port does not have (nothing connects): each as if
	// answered and closed between the queue's reading and the count.
	check(1, 1, 0, -1, false, 0, "first reading of a queue: no count")
	check(2, 1, 100*time.Millisecond, 0, true, 1, "second reading: counted, fewer open than waiting")
	check(3, 2, 200*time.Millisecond, 0, true, 1, "the last count is below the queue: counted again")
	check(4, 0, 300*time.Millisecond, 0, false, 0, "the queue is gone: the last count stands")

	c, err := net.Dial("tcp4", l.Addr().String()) // waits, never accepted
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	proctest.Eventually(t, "1 connection on the port", func() bool { n, err := tcpConns(fd); return err == nil && n == 1 })
	check(5, 1, 400*time.Millisecond, 0, false, 0, "a queue again, first reading: the last count stands")
	check(6, 1, 500*time.Millisecond, 1, true, 1, "second reading: the count predates the queue")
	check(7, 1, 600*time.Millisecond, 1, false, 0, "the count is of this queue and not below it")
	check(8, 1, 1000*time.Millisecond, 1, true, 1, "the count is burstCount old")
}
