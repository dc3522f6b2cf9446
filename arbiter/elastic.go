package arbiter

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher"
	"github.com/poold/poold/watcher/notify"
	"golang.org/x/sys/unix"
)

// elastic is the loop's side of the demand monitor: which elastic
// watchers it watches, and how (cold: epoll; warm: sampled).
type elastic struct {
	mon    *demandMon // nil until the first elastic watcher runs
	cancel context.CancelFunc
	wg     sync.WaitGroup
	last   []planKey
}

// planKey is what makes a plan differ from the previous one.
type planKey struct {
	id    uint64
	cold  bool
	idle  time.Duration
	quiet time.Duration // quietEvery of its spec
	files []*os.File
}

// planDemand tells the monitor which watchers to watch when that changed
// since the last plan (force: also when it did not, to re-arm a one-shot
// wake that changed nothing). Called on the loop after every message.
func (a *Arbiter) planDemand(force bool) {
	var keys []planKey
	for _, w := range a.watchers {
		if !w.Elastic() || !(w.Cold() || w.Warm()) || len(w.Sockets().Files) == 0 {
			continue
		}
		keys = append(keys, planKey{id: w.ID(), cold: w.Cold(), idle: w.Spec().IdleTimeout, quiet: quietEvery(w.Spec()), files: w.Sockets().Files})
	}
	slices.SortFunc(keys, func(x, y planKey) int { return cmp.Compare(x.id, y.id) })
	if !force && samePlan(keys, a.elastic.last) {
		return
	}
	a.elastic.last = keys
	if a.elastic.mon == nil {
		if len(keys) == 0 {
			return
		}
		mon, err := newDemandMon(a.log, a.post)
		if err != nil {
			a.log.Error("cannot watch the sockets of elastic pools; they will not scale", "error", err)
			return
		}
		ctx, cancel := context.WithCancel(context.Background())
		a.elastic.mon, a.elastic.cancel = mon, cancel
		a.elastic.wg.Add(1)
		go func() {
			defer a.elastic.wg.Done()
			mon.run(ctx)
		}()
	}
	a.elastic.mon.setPlan(a.demandPlan(keys))
}

// demandPlan builds the monitor's plan, with its own duplicates of the
// listening fds (the originals may be closed by a config reload).
func (a *Arbiter) demandPlan(keys []planKey) []demandWatch {
	plan := make([]demandWatch, 0, len(keys))
	for _, k := range keys {
		w := a.byID[k.id]
		dw := demandWatch{id: k.id, cold: k.cold, idle: k.idle, quiet: k.quiet}
		for _, name := range w.Spec().SocketNames(a.cfg.Sockets) {
			l, ok := a.socks.Get(name)
			if !ok {
				continue
			}
			fd, err := unix.FcntlInt(uintptr(l.FD()), unix.F_DUPFD_CLOEXEC, 0)
			if err != nil {
				a.log.Error("cannot watch a socket of an elastic pool", "watcher", w.Name(), "socket", name, "error", err)
				continue
			}
			dw.fds = append(dw.fds, fd)
			dw.names = append(dw.names, name)
			dw.tcp = append(dw.tcp, l.Spec.Family != "unix")
		}
		plan = append(plan, dw)
	}
	return plan
}

func samePlan(a, b []planKey) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].id != b[i].id || a[i].cold != b[i].cold || a[i].idle != b[i].idle || a[i].quiet != b[i].quiet || !watcher.SameFiles(a[i].files, b[i].files) {
			return false
		}
	}
	return true
}

// demanded hands the monitor's findings to the watchers.
func (a *Arbiter) demanded(m demandMsg) {
	for id, socket := range m.woken {
		if w := a.byID[id]; w != nil {
			w.Demand(watcher.Load{Queue: 1, Conns: -1, Socket: socket})
		}
	}
	for id, r := range m.samples {
		if w := a.byID[id]; w != nil {
			w.Demand(watcher.Load{Queue: r.queue, Conns: r.conns.n, Counted: r.conns.counted, Arrived: r.arrived})
			a.busyChanged(w)
		}
	}
	a.planDemand(len(m.woken) > 0)
}

// stopDemand stops the monitor and waits for it.
func (a *Arbiter) stopDemand() {
	if a.elastic.mon == nil {
		return
	}
	a.elastic.cancel()
	a.elastic.mon.wake()
	a.elastic.wg.Wait()
}

// sizeRow is the wire form of a watcher's size (status, poold's
// addition): current, min and max workers, and for an elastic pool its
// configured numprocesses and last scale decision. get and options give
// an elastic pool's numprocesses as its size in force (current), as
// circusd gives the number of workers it keeps: a tool that reads it and
// sets it plus one must not shrink the pool to its start size plus one.
// The configured start size, which set numprocesses also changes, is
// "configured" here.
func sizeRow(w *watcher.Watcher) map[string]any {
	sz := w.Size()
	// running: the workers alive, stopping ones included: what a
	// stopping or stopped pool shows, its current being the next start's
	// size (a stopped one-shot showed its numprocesses as if running).
	row := map[string]any{"current": sz.Current, "ready": sz.Ready, "min": sz.Min, "max": sz.Max, "elastic": sz.Elastic,
		"running": w.Running()}
	if sz.Elastic {
		row["configured"] = w.Configured()
		row["on_demand"] = sz.OnDemand
		row["queue"] = sz.Queue
		row["busy"] = sz.Busy
		row["scales"] = sz.Count
	}
	if !sz.At.IsZero() {
		row["last_scale"] = map[string]any{
			"from": sz.From, "to": sz.To, "reason": sz.Reason, "time": float64(sz.At.UnixNano()) / 1e9,
		}
	}
	return row
}

// busyOf reads a worker's load report: BUSY=N (poold's key), or the
// free-text STATUS=busy N; N is the number of requests it has in hand.
func busyOf(m notify.Message) (int, bool) {
	text, ok := m.Fields["BUSY"]
	if !ok {
		st, found := strings.CutPrefix(m.Fields["STATUS"], "busy ")
		if !found {
			return 0, false
		}
		text = st
	}
	n, err := strconv.Atoi(strings.TrimSpace(text))
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// elasticHint is what a refused set adds when it gave one of min_workers
// and max_workers to a pool that is not elastic: each alone is refused
// (a pool with max_workers and no min_workers, or the reverse), so
// making a running pool elastic takes both in one set. "" otherwise, and
// for a value that is itself invalid (its own error says so).
func elasticHint(name string, base configs.Watcher, opts map[string]any) string {
	minV, hasMin := opts["min_workers"]
	maxV, hasMax := opts["max_workers"]
	_, onDemand := opts["on_demand"]
	if base.Elastic() || hasMin == hasMax || onDemand {
		return ""
	}
	// Only for a value that is right in itself: the hint repeats it,
	// and "min_workers -1 max_workers N" fixes nothing.
	lo, hi := fmt.Sprint(minV), fmt.Sprint(maxV)
	if hasMin {
		n, err := strconv.Atoi(lo)
		if err != nil || n < 0 {
			return ""
		}
		hi = "N"
		if n > 0 {
			hi = strconv.Itoa(max(2*n, base.NumProcesses))
		}
	} else {
		n, err := strconv.Atoi(hi)
		if err != nil || n < 1 {
			return ""
		}
		lo = strconv.Itoa(max(1, min(base.NumProcesses, n)))
	}
	return fmt.Sprintf("; to make watcher %q elastic, set min_workers and max_workers in one command: poolctl set %s min_workers %s max_workers %s",
		name, name, lo, hi)
}
