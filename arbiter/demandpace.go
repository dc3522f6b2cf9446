package arbiter

import (
	"time"

	"github.com/poold/poold/configs"
	"golang.org/x/sys/unix"
)

// A running elastic pool's accept queue was read every demandSample
// whatever it held: 4 idle pools woke poold ten times a second, 1.5 % of
// a core. A pool whose queue stayed empty for quietAfter is now read only
// every quiet interval of its plan (quietEvery), and meanwhile its
// listeners wait in the epoll set as a cold pool's do: the first
// connection that waits wakes the monitor, which reads the pool at once
// and every demandSample again. So a burst is seen as soon as before (a
// growth still takes two readings above the target in a row, the second
// demandSample after the first), and only the decisions that come with
// time on an empty queue, a shrink after scale_down_cooldown and
// idle_timeout, wait for the slower readings: at most 1/idleCounts of
// their duration, and at most quietMax.
//
// Connections open on it (a load balancer's keep-alive) do not keep it
// read every demandSample (that cost 1 % of a core for one idle
// connection): they wait in no queue, and a new one wakes the monitor.
// What they change is idle_timeout, which each reading with the last
// count of open connections standing puts off: the reading whose count
// first finds them gone says arrived (they were open since the last
// count), so the pool goes idle idle_timeout after that count: never
// before idle_timeout after they closed, and less than one count
// interval (demandcount.go) and two quiet intervals after it.
const (
	quietAfter = time.Second
	quietMax   = time.Second
)

// quietEvery is how often a pool of spec is read while its queue stays
// empty and no worker is busy; 0: every demandSample.
func quietEvery(spec configs.Watcher) time.Duration {
	d := quietMax
	for _, t := range []time.Duration{spec.IdleTimeout, spec.ScaleDownCooldown} {
		if t > 0 {
			d = min(d, t/idleCounts)
		}
	}
	if d <= demandSample {
		return 0
	}
	return d
}

// pace is how the monitor reads one warm pool.
type pace struct {
	next   time.Time // its next reading
	roused time.Time // its last reading brought forward for a worker gone busy (demandbusy.go)
	empty  time.Time // since when every reading found its queue empty (zero: the last did not), connections open or not
	// armed: its listeners wait in the epoll set (one-shot), and it is
	// read every quiet interval of its plan.
	armed bool
	// stirred: a connection arrived (epoll woke for it) since the last
	// reading.
	stirred bool
	// open: the last reading found connections open (by the last count).
	open bool
	// busy: the loop says a worker of the pool is busy (demandbusy.go).
	busy bool
	// countFails: its last count of open connections failed (logged).
	countFails bool
}

func (p *pace) every(w demandWatch) time.Duration {
	if p.armed {
		return w.quiet
	}
	return demandSample
}

// syncPaces keeps the paces of the plan's warm pools, drops the others,
// and starts a pool new to them at demandSample.
func syncPaces(paces map[uint64]*pace, plan []demandWatch, now time.Time) {
	warm := make(map[uint64]bool, len(plan))
	for _, w := range plan {
		if w.cold {
			continue
		}
		warm[w.id] = true
		if paces[w.id] == nil {
			paces[w.id] = &pace{next: now.Add(demandSample)}
		}
	}
	for id := range paces {
		if !warm[id] {
			delete(paces, id)
		}
	}
}

// nextReading is when the first warm pool is due; false: none is warm.
func nextReading(plan []demandWatch, paces map[uint64]*pace) (time.Time, bool) {
	var next time.Time
	found := false
	for _, w := range plan {
		if p := paces[w.id]; p != nil && !w.cold && (!found || p.next.Before(next)) {
			next, found = p.next, true
		}
	}
	return next, found
}

// stir notes that a connection waits on a quiet pool's listener fd: it
// is read now, and every demandSample until its queue stays empty again.
func stir(plan []demandWatch, paces map[uint64]*pace, fd int, now time.Time) {
	for _, w := range plan {
		p := paces[w.id]
		if w.cold || p == nil {
			continue
		}
		for _, f := range w.fds {
			if f == fd {
				p.stirred, p.armed, p.empty, p.next = true, false, time.Time{}, now
			}
		}
	}
}

// readDue reads the warm pools that are due at now, and with them those
// due within half their interval, so that one wake serves them all; it
// arms the listeners of those whose queue stayed empty for quietAfter.
// nil: none was due.
func (d *demandMon) readDue(plan []demandWatch, paces map[uint64]*pace, counts map[uint64]connCount, armed map[int]bool, now time.Time) map[uint64]demandReading {
	if next, ok := nextReading(plan, paces); !ok || now.Before(next) {
		return nil
	}
	out := make(map[uint64]demandReading)
	for _, w := range plan {
		p := paces[w.id]
		if w.cold || p == nil || p.next.Sub(now) > p.every(w)/2 {
			continue
		}
		r := readPool(w, counts, now)
		d.noteCount(w, p, r.conns)
		r.arrived, p.stirred = p.stirred, false
		// Open at the last count, gone at this one: they closed since
		// that count, perhaps after the last reading (idle_timeout's
		// counts; without one a count only sizes a growth).
		if p.open && r.conns.n <= 0 && w.idle > 0 {
			r.arrived = true
		}
		p.open = r.conns.n > 0
		out[w.id] = r
		switch {
		case r.queue > 0 || p.busy:
			p.empty, p.armed = time.Time{}, false
		case p.empty.IsZero():
			p.empty = now
		}
		if !p.armed && w.quiet > 0 && !p.empty.IsZero() && now.Sub(p.empty) >= quietAfter {
			p.armed = d.listen(w.fds, armed)
		}
		p.next = now.Add(p.every(w))
	}
	return out
}

// listen puts fds in the epoll set, level-triggered and one-shot (again,
// if they were): a connection waiting on one is reported once. A
// connection that came before is reported at once.
func (d *demandMon) listen(fds []int, armed map[int]bool) bool {
	ok := true
	for _, fd := range fds {
		ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLONESHOT, Fd: int32(fd)}
		op := unix.EPOLL_CTL_ADD
		if armed[fd] {
			op = unix.EPOLL_CTL_MOD
		}
		if err := unix.EpollCtl(d.epfd, op, fd, &ev); err != nil {
			d.log.Error("demand monitor: cannot watch a socket of an elastic pool; it is read every 100ms", "fd", fd, "error", err)
			ok = false
			continue
		}
		armed[fd] = true
	}
	return ok
}
