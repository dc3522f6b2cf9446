package arbiter

import (
	"fmt"
	"strings"
	"syscall"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher"
)

// fdBase is what poold holds whatever its workers: its listeners, the
// control and stream connections of a few clients, logs, /proc reads
// (58 measured with 40 sockets and no client; r56b-bigops). Each socket
// of the config adds one.
const fdBase = 100

// FdNeed is what a config's workers need of poold's open-file limit
// (RLIMIT_NOFILE): poold holds each worker's output pipes, and its own
// log file where the path has $(pool.wid) in it (workerFds).
type FdNeed struct {
	Running int // with every watcher at numprocesses
	// Reload adds what each watcher's max_surge starts beside its old
	// workers during a rolling reload: `poolctl reload` of all of them,
	// or a SIGHUP that changes them all, runs them at once.
	Reload  int
	Workers int    // workers the count is for
	Biggest string // the watcher that needs the most, for the message
}

// fdsPerWorker is how many fds poold holds for each running worker of a
// watcher with logs (see workerFds).
func fdsPerWorker(logs configs.WorkerLogs) int {
	if !keepsOutput(logs) {
		return 0
	}
	n := 2
	for _, path := range []string{logs.Stdout, logs.Stderr} {
		if strings.Contains(path, "$(pool.wid)") && (n == 2 || path != logs.Stdout) {
			n++
		}
	}
	return n
}

// FdsNeeded adds up what watchers (each at its numprocesses, an elastic
// one at the most its scaling may grow it to) and sockets need of
// poold's open-file limit.
func FdsNeeded(watchers []configs.Watcher, sockets int) FdNeed {
	need := FdNeed{Running: fdBase + sockets}
	need.Reload = need.Running
	most := -1
	for _, w := range watchers {
		per := fdsPerWorker(w.Logs)
		n := w.NumProcesses
		if w.Elastic() {
			_, hi := w.Bounds()
			n = max(n, hi)
		}
		run := per * n
		need.Running += run
		need.Reload += run + per*w.MaxSurge.Of(n)
		need.Workers += n
		if run > most {
			most, need.Biggest = run, w.Name
		}
	}
	return need
}

// Short says how far limit (poold's RLIMIT_NOFILE) falls short of need:
// 0 it fits, 1 not a reload of every watcher, 2 not even the workers.
func (need FdNeed) Short(limit uint64) int {
	switch {
	case uint64(need.Running) > limit:
		return 2
	case uint64(need.Reload) > limit:
		return 1
	}
	return 0
}

// Problem says what is short when limit is below need, and what to set,
// or "" when it fits.
func (need FdNeed) Problem(limit uint64) string {
	switch need.Short(limit) {
	case 2:
		return fmt.Sprintf("RLIMIT_NOFILE %d is lower than the %d fds that %d workers need in poold (2 output pipes each, 3 or 4 with a log file per worker, "+
			"none with their output off; plus about %d for poold itself; the most for watcher %q), so some cannot start, and a reload of every watcher "+
			"with its max_surge needs %d: raise it to %d or more (ulimit -n, systemd LimitNOFILE=, docker --ulimit nofile=); see \"Sizing a big host\" in the README",
			limit, need.Running, need.Workers, fdBase, need.Biggest, need.Reload, need.Reload)
	case 1:
		return fmt.Sprintf("RLIMIT_NOFILE %d fits the %d fds that %d workers need in poold, but not the %d that a reload of every watcher with its max_surge "+
			"(new workers beside the old ones) needs, so such a reload cannot start them all: raise it to %d or more (ulimit -n, systemd LimitNOFILE=, "+
			"docker --ulimit nofile=), or lower max_surge; see \"Sizing a big host\" in the README",
			limit, need.Running, need.Workers, need.Reload, need.Reload)
	}
	return ""
}

// NofileLimit is this process's RLIMIT_NOFILE as poold can use it: the
// soft limit, which Go raised to the hard one at start.
func NofileLimit() (uint64, bool) {
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) != nil {
		return 0, false
	}
	return rl.Cur, true
}

// noteFds warns when the workers poold runs (each running watcher at its
// numprocesses, and with its max_surge during a reload) need more fds
// than poold's RLIMIT_NOFILE: at start, and on the loop's tick once an
// incr, a set or a reload made it worse; it says when they fit again.
// Short of fds, each spawn fails with what to do, but only then, one
// watcher at a time.
func (a *Arbiter) noteFds() {
	if a.stopping {
		return
	}
	limit, ok := NofileLimit()
	if !ok {
		return
	}
	specs := make([]configs.Watcher, 0, len(a.watchers))
	for _, w := range a.watchers {
		if w.Status() != watcher.Stopped {
			specs = append(specs, w.Spec())
		}
	}
	need := FdsNeeded(specs, len(a.cfg.Sockets))
	short := need.Short(limit)
	kv := []any{"nofile", limit, "need", need.Running, "need_reload", need.Reload, "workers", need.Workers}
	switch {
	case short > a.fdsShort:
		a.log.Warn("poold's open-file limit is too low for its workers: "+need.Problem(limit), kv...)
	case short == 0 && a.fdsShort > 0:
		a.log.Info("poold's open-file limit now fits its workers, a reload of every watcher included", kv...)
	}
	a.fdsShort = short
}
