package arbiter

import (
	"strings"
	"time"
)

// Counting the connections open on a pool's sockets (tcpConns) is a
// sock_diag dump that walks the host's whole established hash, whatever
// the port asked: about 1.4 ms of kernel time on a host with 262,144
// buckets (tcp_ehash_entries), even with no connection at all. Done at
// every 100 ms reading, it made 4 idle pools with idle_timeout cost 5.6 %
// of a core. The accept queue (TCP_INFO on the listener) stays read at
// every reading; the connections are counted only when a decision needs
// them:
//
//   - idle_timeout, a matter of minutes: every idle_timeout/idleCounts.
//     Between two counts the last one stands, so a pool goes idle at most
//     that late (3 %), never early: a connection seen open keeps the pool
//     up until a count sees none.
//   - growth, which sizes its step by the connections a worker holds
//     and holds back while a worker holds none (watcher.Load): only from
//     the second reading of a queue, the first one at which the scaler
//     may grow on it (a queue seen at one reading costs no count). There
//     the count must be of this queue: taken again if it predates the
//     queue's second reading (a count of 4 from before a burst of 50, or
//     from an earlier wait, tells nothing of the workers now), if it is
//     older than burstCount, or if it is lower than the queue and not of
//     this reading (the queue grew since, or had drained then: gunicorn
//     sync answers and closes a connection per request, and one client
//     was often gone by the count). A count of the reading that finds
//     fewer open than waiting is marked Counted: the queue drained.
const (
	idleCounts = 32
	burstCount = 500 * time.Millisecond
)

// countEvery is how often the open connections of a pool with
// idle_timeout idle are counted.
func countEvery(idle time.Duration) time.Duration {
	return max(idle/idleCounts, demandSample)
}

// connCount is a watcher's open connections as last counted (-1: could
// not be counted, err says why), and when; queued is when the queue its
// readings show began (zero: the last reading found it empty).
type connCount struct {
	at     time.Time
	n      int
	err    error
	queued time.Time
}

// openConns is the open connections a reading of a pool gives (n, -1:
// unknown), and whether they were counted at this reading, after its
// queue was read. fresh: a count was tried at this reading; err: why it
// failed.
type openConns struct {
	n       int
	counted bool
	fresh   bool
	err     error
}

// connsOf returns the open connections of w's sockets for a reading at
// now with queue connections waiting: counted again when due, else the
// last count; -1 when unknown (a unix socket, or no count recent enough
// for a pool without idle_timeout, which only grows on it). counted: the
// count was taken at this reading, after the queue was read.
func connsOf(w demandWatch, queue int, counts map[uint64]connCount, now time.Time) openConns {
	unknown := openConns{n: -1}
	if len(w.fds) == 0 {
		return unknown
	}
	for _, tcp := range w.tcp {
		if !tcp {
			return unknown
		}
	}
	c := counts[w.id]
	switch {
	case queue == 0:
		c.queued = time.Time{}
	case c.queued.IsZero():
		c.queued = now
	}
	age := now.Sub(c.at) // the longest Duration when never counted
	if (w.idle > 0 && age >= countEvery(w.idle)) || recount(c, queue, age, now) {
		c.at = now
		c.n, c.err = countTCP(w.fds)
		age = 0
	}
	counts[w.id] = c
	switch {
	case age == 0:
		return openConns{n: c.n, counted: c.n >= 0, fresh: true, err: c.err}
	case w.idle > 0 || age < 2*burstCount:
		return openConns{n: c.n}
	}
	return unknown
}

// recount reports whether a pool's queue, seen at an earlier reading
// too, needs a count of its own at now: the last count c is not of it
// (taken at its first reading or before), older than burstCount, or
// lower than the queue.
func recount(c connCount, queue int, age time.Duration, now time.Time) bool {
	if queue == 0 || !c.queued.Before(now) {
		return false
	}
	return !c.at.After(c.queued) || age >= burstCount || (c.n >= 0 && c.n < queue)
}

// countTCP sums the open connections of TCP listeners; -1 and why if
// one of them cannot be counted.
func countTCP(fds []int) (int, error) {
	sum := 0
	for _, fd := range fds {
		n, err := tcpConns(fd)
		if err != nil {
			return -1, err
		}
		sum += n
	}
	return sum, nil
}

// forgetCounts drops the counts of watchers no longer in the plan, or
// cold: a pool woken again is counted afresh.
func forgetCounts(counts map[uint64]connCount, plan []demandWatch) {
	warm := make(map[uint64]bool, len(plan))
	for _, w := range plan {
		warm[w.id] = !w.cold
	}
	for id := range counts {
		if !warm[id] {
			delete(counts, id)
		}
	}
}

// noteCount says when counting a pool's open connections starts to fail,
// and when it works again: once each, not at every reading. Meanwhile a
// queue that stays grows the pool as if no worker were idle (unknown
// connections: watcher.Load), where a count may show one idle.
func (d *demandMon) noteCount(w demandWatch, p *pace, c openConns) {
	switch {
	case !c.fresh:
	case c.err != nil && !p.countFails:
		p.countFails = true
		d.log.Warn("cannot count the connections open on an elastic pool's sockets (sock_diag); until a count works, "+
			"a queue that stays grows the pool as if no worker were idle: the error says why (a container that refuses "+
			"NETLINK_SOCK_DIAG sockets to poold, or no tcp_diag in the kernel)", "sockets", strings.Join(w.names, ", "), "error", c.err)
	case c.err == nil && p.countFails:
		p.countFails = false
		d.log.Info("counting the connections open on an elastic pool's sockets works again", "sockets", strings.Join(w.names, ", "))
	}
}
