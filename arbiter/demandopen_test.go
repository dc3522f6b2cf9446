package arbiter

import (
	"net"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/poold/poold/watcher/proctest"
	"golang.org/x/sys/unix"
)

// openWatch is a warm pool on a fresh listener with one connection open
// (accepted), with idle_timeout idle and read every quiet once its queue
// stayed empty; closeConn closes that connection, both ends, and returns
// once a count finds it gone.
func openWatch(t *testing.T, id uint64, idle, quiet time.Duration) (w demandWatch, l net.Listener, closeConn func()) {
	t.Helper()
	l, fd := listenerFD(t)
	t.Cleanup(func() { unix.Close(fd) })
	c, err := net.Dial("tcp4", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := l.Accept()
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	w = warmWatch(id, fd, idle)
	w.quiet = quiet
	return w, l, func() {
		s.Close()
		c.Close()
		proctest.Eventually(t, "the closed connection gone from a count", func() bool { n, err := tcpConns(fd); return err == nil && n == 0 })
	}
}

// pacedMon is a demand monitor that is not run: the test calls readDue
// with the times it chooses.
func pacedMon(t *testing.T) *demandMon {
	t.Helper()
	mon, err := newDemandMon(hclog.NewNullLogger(), func(any) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(mon.epfd); unix.Close(mon.evfd) })
	return mon
}

// TestPoolWithOpenConnectionsIsReadQuietly: an idle pool with one idle
// connection open (a load balancer's keep-alive) was read every
// demandSample for as long as it stayed open, 1 % of a core. Over 10 s of
// the monitor's clock it is now read at its quiet pace once its queue
// stayed empty for quietAfter, its connection still counted, and a new
// connection still wakes the monitor at once, through epoll.
func TestPoolWithOpenConnectionsIsReadQuietly(t *testing.T) {
	mon := pacedMon(t)
	w, l, _ := openWatch(t, 1, 32*time.Second, time.Second) // counted every second
	plan := []demandWatch{w}
	paces, counts, armed := map[uint64]*pace{}, map[uint64]connCount{}, map[int]bool{}
	t0 := time.Now()
	syncPaces(paces, plan, t0)
	const span = 10 * time.Second
	readings := 0
	var last demandReading
	for now := t0; now.Before(t0.Add(span)); now = now.Add(10 * time.Millisecond) {
		if r, ok := mon.readDue(plan, paces, counts, armed, now)[w.id]; ok {
			readings, last = readings+1, r
		}
	}
	if limit := int(quietAfter/demandSample) + int(span/w.quiet) + 2; readings > limit || last.conns.n != 1 {
		t.Fatalf("the pool with one idle connection open was read %d times in %v (last %+v), want at most %d (every %v once its queue stayed empty for %v), with 1 connection", readings, span, last, limit, w.quiet, quietAfter)
	}

	c, err := net.Dial("tcp4", l.Addr().String()) // never accepted: it waits in the queue
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	events := make([]unix.EpollEvent, 4)
	n, err := unix.EpollWait(mon.epfd, events, 10_000) // a bound that catches a hang
	if err != nil || n != 1 || int(events[0].Fd) != w.fds[0] {
		t.Fatalf("a new connection on the quiet pool: epoll_wait gave %d events (%v), want its listener fd %d", n, err, w.fds[0])
	}
	now := t0.Add(span)
	stir(plan, paces, w.fds[0], now)
	r, ok := mon.readDue(plan, paces, counts, armed, now)[w.id]
	if !ok || !r.arrived || r.queue != 1 {
		t.Fatalf("the reading the new connection woke: %+v (read: %v), want at once, arrived, 1 waiting", r, ok)
	}
}

// TestOpenConnectionsClosedDoNotEndIdleTimeoutEarly: each reading with
// the last count of open connections standing puts idle_timeout off (the
// scaler takes it as activity), so a connection that closed after the
// last such reading, before the count that finds it gone, let the pool
// go idle before idle_timeout had passed since it closed: up to one
// reading early (100 ms, or a quiet interval once such a pool is read
// quietly). The count that finds it gone now says arrived. For a close
// at several points between two counts, the last reading that counts as
// activity is at or after the close, and less than a count interval and
// two quiet intervals after it.
func TestOpenConnectionsClosedDoNotEndIdleTimeoutEarly(t *testing.T) {
	mon := pacedMon(t)
	const idle = 32 * time.Second // counted every second
	for i, after := range []time.Duration{5050 * time.Millisecond, 5350 * time.Millisecond, 5650 * time.Millisecond, 5950 * time.Millisecond, 5990 * time.Millisecond} {
		w, _, closeConn := openWatch(t, uint64(i+1), idle, time.Second)
		plan := []demandWatch{w}
		paces, counts, armed := map[uint64]*pace{}, map[uint64]connCount{}, map[int]bool{}
		t0 := time.Now()
		syncPaces(paces, plan, t0)
		closeAt, closed := t0.Add(after), false
		var active, lastGone time.Time // the last reading that counts as activity; the last that does not
		for now := t0; now.Before(closeAt.Add(4 * time.Second)); now = now.Add(10 * time.Millisecond) {
			if !closed && !now.Before(closeAt) {
				closeConn()
				closed = true
			}
			r, ok := mon.readDue(plan, paces, counts, armed, now)[w.id]
			switch {
			case !ok:
			case r.conns.n > 0 || r.queue > 0 || r.arrived:
				active = now
			default:
				lastGone = now
			}
		}
		late := countEvery(idle) + 2*w.quiet
		switch {
		case active.Before(closeAt):
			t.Errorf("connection closed %v in: the last reading that puts idle_timeout off was %v in, %v before the close, so the pool goes idle that much early", after, active.Sub(t0), closeAt.Sub(active))
		case active.Sub(closeAt) >= late:
			t.Errorf("connection closed %v in: the last reading that puts idle_timeout off was %v in, want less than %v after the close", after, active.Sub(t0), late)
		case lastGone.Before(active):
			t.Errorf("connection closed %v in: no reading after %v in found the pool without connections", after, active.Sub(t0))
		}
	}
}
