package arbiter

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
)

// demandSample is how often the accept queues of running elastic pools are
// read while connections come (demandpace.go: slower once a queue stays
// empty). A cold on_demand pool is not sampled: epoll wakes poold when a
// connection arrives.
const demandSample = 100 * time.Millisecond

// demandWatch is one elastic watcher as the demand monitor sees it. The
// fds are close-on-exec duplicates of the listeners, owned by the plan
// that carries them, so a socket closed by a config reload on the loop
// never turns into another file under the monitor.
type demandWatch struct {
	id    uint64
	fds   []int
	names []string // socket names, by fd
	tcp   []bool   // fd is a TCP listener (open connections can be counted)
	cold  bool     // on_demand at 0 workers: wait for a readable listener
	// idle is the watcher's idle_timeout (0: none): its open connections
	// are counted every countEvery(idle) to tell whether it is idle.
	idle time.Duration
	// quiet is how often a warm pool is read once its queue stayed empty
	// for quietAfter (0: every demandSample); see quietEvery.
	quiet time.Duration
}

// demandMsg carries the monitor's findings to the loop.
type demandMsg struct {
	woken   map[uint64]string // cold watcher -> the socket a connection waits on
	samples map[uint64]demandReading
}

type demandReading struct {
	queue   int
	conns   openConns
	arrived bool // a connection woke the monitor, or connections open at the last count closed, since the last reading
}

// demandMon watches the listeners of elastic watchers off the loop: epoll
// on the listening fds of cold pools (readable = a connection waits; it
// never accepts one), and a periodic read of the accept queues of running
// ones, slower once a queue stays empty, with epoll to wake it
// (demandpace.go). It decides nothing: what it sees goes to the loop as a demandMsg.
//
// Concurrency: the loop hands it plans through setPlan (a mutex-guarded
// leaf and an eventfd to wake epoll_wait); run is its only goroutine and
// the only user of the epoll set.
type demandMon struct {
	log  hclog.Logger
	post func(any) bool

	epfd, evfd int

	mu      sync.Mutex
	pending []demandWatch // newest plan not yet taken by run
	fresh   bool
	busy    map[uint64]bool // pools with a worker busy, as the loop last said (setBusy)
	rose    map[uint64]bool // pools that became busy since run last looked
}

func newDemandMon(log hclog.Logger, post func(any) bool) (*demandMon, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	evfd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, err
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(evfd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, evfd, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(evfd)
		return nil, err
	}
	return &demandMon{log: log, post: post, epfd: epfd, evfd: evfd}, nil
}

// setPlan replaces the watched set; the monitor takes it on its next turn.
// A plan it never took is closed here.
func (d *demandMon) setPlan(plan []demandWatch) {
	d.mu.Lock()
	if d.fresh {
		closePlan(d.pending)
	}
	d.pending, d.fresh = plan, true
	forgetBusy(d.busy, plan)
	forgetBusy(d.rose, plan)
	d.mu.Unlock()
	d.wake()
}

func (d *demandMon) wake() {
	var one = [8]byte{1}
	_, _ = unix.Write(d.evfd, one[:])
}

func closePlan(plan []demandWatch) {
	for _, w := range plan {
		for _, fd := range w.fds {
			unix.Close(fd)
		}
	}
}

// run serves until ctx is done (wake it with d.wake after cancelling),
// then closes everything it holds.
func (d *demandMon) run(ctx context.Context) {
	var plan []demandWatch
	defer func() {
		closePlan(plan)
		d.mu.Lock()
		if d.fresh {
			closePlan(d.pending)
			d.fresh = false
		}
		d.mu.Unlock()
		unix.Close(d.epfd)
		unix.Close(d.evfd)
	}()
	armed := map[int]bool{} // fds in the epoll set, one-shot, fired or not
	counts := map[uint64]connCount{}
	paces := map[uint64]*pace{}
	events := make([]unix.EpollEvent, 16)
	for ctx.Err() == nil {
		if p, ok := d.take(); ok {
			syncPaces(paces, p, time.Now())
			d.arm(p, paces, armed) // before closing: epoll forgets a dup only once deleted
			closePlan(plan)
			plan = p
			forgetCounts(counts, plan)
		}
		busy, rose := d.takeBusy()
		markBusy(paces, busy, rose, time.Now())
		timeout := -1
		if next, ok := nextReading(plan, paces); ok {
			timeout = max(int(time.Until(next)/time.Millisecond), 0)
		}
		n, err := unix.EpollWait(d.epfd, events, timeout)
		if err != nil && !errors.Is(err, unix.EINTR) {
			d.log.Error("demand monitor: epoll_wait failed; elastic pools no longer scale", "error", err)
			return
		}
		var woken map[uint64]string
		for _, ev := range events[:max(n, 0)] {
			if int(ev.Fd) == d.evfd {
				var buf [8]byte
				_, _ = unix.Read(d.evfd, buf[:])
				continue
			}
			// One-shot: disarmed, though still in the set, until the
			// next plan (a cold pool) or the next quiet spell (a warm one).
			woken = wokenBy(plan, int(ev.Fd), woken)
			stir(plan, paces, int(ev.Fd), time.Now())
		}
		samples := d.readDue(plan, paces, counts, armed, time.Now())
		if woken != nil || samples != nil {
			if !d.post(demandMsg{woken: woken, samples: samples}) {
				return
			}
		}
	}
}

func (d *demandMon) take() ([]demandWatch, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.fresh {
		return nil, false
	}
	p := d.pending
	d.pending, d.fresh = nil, false
	return p, true
}

// arm makes the epoll set the listeners of the plan's cold watchers,
// level-triggered and one-shot: a waiting connection is reported once,
// and again only after the loop sent a new plan. A connection that came
// before the arming is reported at once (level-triggered). The listeners
// of warm pools read at their quiet pace wait there too.
func (d *demandMon) arm(plan []demandWatch, paces map[uint64]*pace, armed map[int]bool) {
	for fd := range armed {
		if err := unix.EpollCtl(d.epfd, unix.EPOLL_CTL_DEL, fd, nil); err != nil {
			d.log.Error("demand monitor: cannot unwatch a socket", "fd", fd, "error", err)
		}
		delete(armed, fd)
	}
	for _, w := range plan {
		if p := paces[w.id]; p != nil && p.armed {
			// A plan without a quiet pace (a cooldown or idle_timeout
			// made short, scale_busy_target set) reads the pool every
			// demandSample again: an armed pool is read every w.quiet,
			// which would then be 0, a reading after another.
			p.armed = w.quiet > 0 && d.listen(w.fds, armed)
		}
		if !w.cold {
			continue
		}
		for _, fd := range w.fds {
			ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLONESHOT, Fd: int32(fd)}
			if err := unix.EpollCtl(d.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
				d.log.Error("demand monitor: cannot watch a socket; its on_demand pool will not start", "fd", fd, "error", err)
				continue
			}
			armed[fd] = true
		}
	}
}

func wokenBy(plan []demandWatch, fd int, woken map[uint64]string) map[uint64]string {
	for _, w := range plan {
		for i, f := range w.fds {
			if f == fd && w.cold {
				if woken == nil {
					woken = map[uint64]string{}
				}
				woken[w.id] = w.names[i]
			}
		}
	}
	return woken
}

// readPool reads the accept queue of a warm watcher's sockets, and with
// it the open connections as connsOf counts them (counts holds the last
// count of each watcher).
func readPool(w demandWatch, counts map[uint64]connCount, now time.Time) demandReading {
	var r demandReading
	for _, fd := range w.fds {
		if q, _, err := queueOf(fd); err == nil {
			r.queue += q
		}
	}
	r.conns = connsOf(w, r.queue, counts, now)
	return r
}
