package arbiter

import (
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"golang.org/x/sys/unix"
)

// TestBusyPoolIsReadQuietlyUntilAWorkerIsBusy: a pool with
// scale_busy_target was read every demandSample for good, idle or not:
// its workers' BUSY reports wake no listener. Idle, it is now read at its
// quiet pace; when the loop says a worker is busy the monitor wakes and
// reads it at once, then every demandSample while a worker is busy (a
// growth on busy workers is not delayed), and quietly again once none
// is.
func TestBusyPoolIsReadQuietlyUntilAWorkerIsBusy(t *testing.T) {
	mon := pacedMon(t)
	_, fd := listenerFD(t)
	t.Cleanup(func() { unix.Close(fd) })
	spec := configs.Watcher{Scaling: configs.Scaling{ScaleBusyTarget: 50, ScaleDownCooldown: time.Hour}}
	w := quietWatch(1, fd, quietEvery(spec))
	plan := []demandWatch{w}
	paces, counts, armed := map[uint64]*pace{}, map[uint64]connCount{}, map[int]bool{}
	now := time.Now()
	syncPaces(paces, plan, now)
	// run reads the pool for span of the monitor's clock, as run does:
	// the busy pools first, then the readings due.
	run := func(span time.Duration) int {
		n := 0
		for end := now.Add(span); now.Before(end); now = now.Add(10 * time.Millisecond) {
			busy, rose := mon.takeBusy()
			markBusy(paces, busy, rose, now)
			if _, ok := mon.readDue(plan, paces, counts, armed, now)[w.id]; ok {
				n++
			}
		}
		return n
	}
	quietLimit := func(span time.Duration) int { return int(quietAfter/demandSample) + int(span/quietMax) + 2 }

	if n, limit := run(10*time.Second), quietLimit(10*time.Second); n > limit {
		t.Fatalf("the idle pool with scale_busy_target was read %d times in 10s, want at most %d (every %v once idle for %v)", n, limit, quietMax, quietAfter)
	}
	mon.setBusy(w.id, true)
	events := make([]unix.EpollEvent, 4)
	if n, err := unix.EpollWait(mon.epfd, events, 10_000); err != nil || n != 1 || int(events[0].Fd) != mon.evfd { // a bound that catches a hang
		t.Fatalf("a worker busy: epoll_wait gave %d events (%v), want the monitor's eventfd", n, err)
	}
	var buf [8]byte
	_, _ = unix.Read(mon.evfd, buf[:])
	busy, rose := mon.takeBusy()
	markBusy(paces, busy, rose, now)
	if _, ok := mon.readDue(plan, paces, counts, armed, now)[w.id]; !ok {
		t.Fatal("the pool was not read at once when a worker became busy")
	}
	if n := run(5 * time.Second); n < 45 {
		t.Errorf("the pool with a worker busy was read %d times in 5s, want about 50 (every %v)", n, demandSample)
	}
	mon.setBusy(w.id, false)
	if n, limit := run(5*time.Second), quietLimit(5*time.Second); n > limit {
		t.Errorf("the pool no longer busy was read %d times in 5s, want at most %d", n, limit)
	}
}

// TestBusyReportsDoNotReadThePoolAtEachRequest: a worker that says
// BUSY=1 and BUSY=0 for each short request makes the pool busy at each
// (the loop clears it at a reading that finds no worker busy): its pool
// is read at most three times a demandSample (its own reading and two
// for a worker gone busy), not once a request.
func TestBusyReportsDoNotReadThePoolAtEachRequest(t *testing.T) {
	mon := pacedMon(t)
	_, fd := listenerFD(t)
	t.Cleanup(func() { unix.Close(fd) })
	w := quietWatch(1, fd, quietMax)
	plan := []demandWatch{w}
	paces, counts, armed := map[uint64]*pace{}, map[uint64]connCount{}, map[int]bool{}
	now := time.Now()
	syncPaces(paces, plan, now)
	const span = 2 * time.Second
	n := 0
	for end := now.Add(span); now.Before(end); now = now.Add(5 * time.Millisecond) {
		mon.setBusy(w.id, true) // a request every 5 ms
		busy, rose := mon.takeBusy()
		markBusy(paces, busy, rose, now)
		if _, ok := mon.readDue(plan, paces, counts, armed, now)[w.id]; ok {
			n++
			mon.setBusy(w.id, false) // the request was over by the reading
		}
	}
	if limit := 3*int(span/demandSample) + 2; n > limit {
		t.Errorf("a request every 5 ms: the pool was read %d times in %v, want at most %d (3 a %v)", n, span, limit, demandSample)
	}
}
