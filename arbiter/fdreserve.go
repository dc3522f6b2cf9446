package arbiter

import (
	"fmt"
	"syscall"
	"time"

	"github.com/poold/poold/watcher/procinfo"
)

// FdReserve is how many of poold's fds (RLIMIT_NOFILE) a start of a
// worker leaves free: the control connections (poolctl decr, stop), the
// web console and the files poold opens itself. Without it, workers took
// every fd and poold could no longer accept the connection that would
// have scaled them down.
const FdReserve = 32

// fdsPerStart bounds the fds one start adds in poold, for a while or for
// the worker's life: its output pipes (both ends until it has them),
// its pidfd, its cgroup's directory and its own log files.
const fdsPerStart = 8

// fdRecount is how long a count that found the reserve short holds: the
// starts refused meanwhile are refused on it, without counting again. A
// count reads /proc/self/fd, whose cost grows with poold's fds (94 ms at
// 20,000 on a loaded 2-core machine): slots that keep retrying at the
// limit must not read it each.
const fdRecount = time.Second

// fdGauge keeps an estimate of poold's open fds, for the reserve: the
// last count, plus fdsPerStart for each start let through since (more
// than a start keeps; exits are not taken off). It counts again only
// when that estimate leaves no room: far from the limit (10,000 workers
// under a limit of 65,536 or more) a start costs no readdir at all; near
// it, one per start let through, and one per fdRecount while starts are
// refused. Owned by the loop.
type fdGauge struct {
	counted int       // at the last count
	at      time.Time // of the last count; zero: none yet
	starts  int       // starts let through since
	// count and limit are the fds open and RLIMIT_NOFILE (tests: fakes).
	count func() (int, error)
	limit func() (uint64, bool)
}

// allow says whether a start fits in poold's fds with FdReserve left
// free; when not, err says so for watcher (it wraps EMFILE: the slot
// pauses as for any shortage of poold's, and starts once fds are free).
func (g *fdGauge) allow(watcher string, now time.Time) error {
	limit, ok := g.limit()
	if !ok {
		return nil
	}
	open := g.counted + g.starts*fdsPerStart
	if g.at.IsZero() || !fits(open, limit) && (g.starts > 0 || now.Sub(g.at) >= fdRecount) {
		n, err := g.count()
		if err != nil {
			return nil // no count: the fork says EMFILE, if it comes to that
		}
		g.counted, g.at, g.starts, open = n, now, 0, n
	}
	if !fits(open, limit) {
		return &FdReserveError{Watcher: watcher, Open: open, Limit: limit}
	}
	g.starts++
	return nil
}

func fits(open int, limit uint64) bool {
	return uint64(open+fdsPerStart+FdReserve) <= limit
}

// FdReserveError is a start refused because it would leave fewer than
// FdReserve of poold's fds free.
type FdReserveError struct {
	Watcher string
	Open    int
	Limit   uint64
}

func (e *FdReserveError) Error() string {
	return fmt.Sprintf("watcher %q: not started: poold holds %d of the %d fds its RLIMIT_NOFILE allows, and keeps the last %d free for control connections "+
		"(poolctl) and its own files; raise the limit (systemd LimitNOFILE=, ulimit -n, docker --ulimit nofile=) or lower numprocesses (poolctl decr); "+
		"the slot starts by itself once fds are free", e.Watcher, e.Open, e.Limit, FdReserve)
}

// Unwrap makes the error a want of fds (spawn.Lacked): the slot pauses
// rather than gives up.
func (e *FdReserveError) Unwrap() error { return syscall.EMFILE }

// openFds counts this process's open fds: one stat of /proc/self/fd
// where the kernel tells the count in its size (procinfo.OwnFDs), which
// is what lets a slot at the limit count at each start; a readdir of
// 20,000 fds took 94 ms.
func openFds() (int, error) { return procinfo.OwnFDs() }
