package arbiter

import "time"

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
//     and holds back while a worker holds none (watcher.Load): while
//     connections wait in the queue, at most every burstCount, and once
//     more at the second reading of a queue if the last count is older
//     than the queue: a count from before a burst (a count of 4 with 50
//     waiting) or from an earlier wait tells nothing of the workers now.
//     A queue seen at one reading only, which never grows a pool, costs
//     no count.
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
// not be counted), and when; queued is when the queue its readings show
// began (zero: the last reading found it empty).
type connCount struct {
	at     time.Time
	n      int
	queued time.Time
}

// connsOf returns the open connections of w's sockets for a reading at
// now with queue connections waiting: counted again when due, else the
// last count; -1 when unknown (a unix socket, or no count recent enough
// for a pool without idle_timeout, which only grows on it).
func connsOf(w demandWatch, queue int, counts map[uint64]connCount, now time.Time) int {
	if len(w.fds) == 0 {
		return -1
	}
	for _, tcp := range w.tcp {
		if !tcp {
			return -1
		}
	}
	c, ok := counts[w.id]
	switch {
	case queue == 0:
		c.queued = time.Time{}
	case c.queued.IsZero():
		c.queued = now
	}
	if ok {
		counts[w.id] = c
	}
	age := now.Sub(c.at)
	// At the second reading of a queue, a count older than it is stale.
	stale := queue > 0 && c.queued.Before(now) && c.at.Before(c.queued)
	if !ok || (w.idle > 0 && age >= countEvery(w.idle)) || (queue > 0 && age >= burstCount) || stale {
		if w.idle == 0 && queue == 0 {
			return -1
		}
		c.at, c.n = now, countTCP(w.fds)
		counts[w.id] = c
		age = 0
	}
	if w.idle > 0 || age < 2*burstCount {
		return c.n
	}
	return -1
}

// countTCP sums the open connections of TCP listeners; -1 if one of them
// cannot be counted.
func countTCP(fds []int) int {
	sum := 0
	for _, fd := range fds {
		n, err := tcpConns(fd)
		if err != nil || n < 0 {
			return -1
		}
		sum += n
	}
	return sum
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
