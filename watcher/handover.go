package watcher

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/poold/poold/watcher/handover"
)

// handoverWait bounds how long a worker with readiness "spawn" in a
// watcher with sockets stays starting until it is seen waiting for
// connections (ready_timeout too, if shorter), unless it is a new worker
// of a rolling reload: that one replaces serving workers only once seen
// waiting, and fails its readiness at ready_timeout if it never is (a Go
// server that hangs before it takes its socket looks the same to /proc
// as one on io_uring). Any other worker whose wait /proc cannot show (a
// server on io_uring, one that never polls the socket) then counts as
// ready, with a warning, as "spawn" always did; unless it shows it still
// loads: processes it started hold a socket (a gunicorn or uvicorn
// master whose workers still import the app), one of them has exited
// meanwhile (a gunicorn master whose worker failed to boot, which halts
// only once its other workers have stopped), or it still uses CPU (a
// master that imports the app before it forks, gunicorn --preload).
// That one stays starting until it waits or exits, up to ready_timeout,
// where it fails its readiness (it has not served by then), unless it
// only computed: a server /proc cannot show waiting computes too once it
// serves, so that one counts as ready then.
const handoverWait = 10 * time.Second

// defaultSpawnWindow is how long a worker with readiness "spawn" and no socket
// to be seen waiting on must live to count as ready: one that dies at
// once (a program that exits on a bad argument, a missing module) dies
// before it was ready, so a waited start reports it.
const defaultSpawnWindow = 100 * time.Millisecond

// awaitHandover starts watching p, a new worker with readiness "spawn"
// in a watcher with sockets: it stays starting until it waits for
// connections on one of them (handover.Wait). A worker that replaces old
// ones is ready only then, so the workers it replaces stop only once it
// can take their clients: an old worker that stops closes its kept-alive
// connections, and the clients reconnect at once; with no new worker
// accepting yet, the reconnection lands on another old worker, which
// closes it again at its turn. A worker of a first start, a scale-up or a
// restart is ready only then too, so one that dies while it loads (an app
// that cannot be imported) dies before it was ready and a waited start
// reports it. It reports false when it cannot watch (no sockets, or
// their inodes cannot be read).
func (w *Watcher) awaitHandover(p *Process) bool {
	if len(w.socks.Files) == 0 {
		return false
	}
	socks, err := handover.InodesOf(w.socks.Files)
	if err != nil {
		w.log.Debug("cannot see the sockets' inodes; the new worker counts as ready once it has lived a moment", "pid", p.Pid, "error", err)
		return false
	}
	pid, wid, log := p.Pid, p.Wid, w.log
	soft, bound := min(handoverWait, w.spec.ReadyTimeout), w.spec.ReadyTimeout
	if w.waitsSeen(p) {
		// It replaces serving workers: it is waited for until it is seen
		// waiting, up to ready_timeout, where it fails its readiness.
		w.host.Check(Check{Watcher: w.id, Kind: CheckHandover, Pid: pid, Gen: p.gen}, bound,
			func(ctx context.Context) error {
				_, err := handover.WaitHeld(ctx, pid, socks, soft, rollPast(log, pid, wid, soft, bound))
				return err
			})
		return true
	}
	// Past soft, a master whose processes hold the sockets is waited for
	// up to ready_timeout: say so then, not only once that is over.
	var past func([]int)
	if soft < bound {
		past = func(holders []int) {
			if len(holders) == 0 {
				log.Info("new worker not seen waiting for connections yet, but it still uses CPU (a master that imports the app before it forks?): waiting for it to wait, up to ready_timeout",
					"pid", pid, "wid", wid, "waited", soft, "ready_timeout", bound)
				return
			}
			log.Info("new worker not seen waiting for connections yet, but processes it started hold its sockets (a master whose workers still load the app?): waiting for one to wait, up to ready_timeout",
				"pid", pid, "wid", wid, "holders", holders, "waited", soft, "ready_timeout", bound)
		}
	}
	w.host.Check(Check{Watcher: w.id, Kind: CheckHandover, Pid: pid, Gen: p.gen}, bound,
		func(ctx context.Context) error {
			_, err := handover.WaitPast(ctx, pid, socks, soft, past)
			return err
		})
	return true
}

// rollPast is what a new worker of a rolling reload, not seen waiting
// for connections once soft has passed, logs: that the reload waits on,
// and until when.
func rollPast(log hclog.Logger, pid, wid int, soft, bound time.Duration) func([]int, bool) {
	if soft >= bound {
		return nil
	}
	return func(holders []int, busy bool) {
		why := "it is idle: a server that hangs before it serves, or one whose wait /proc cannot show"
		switch {
		case len(holders) > 0:
			why = "processes it started hold its sockets: a master whose workers still load the app?"
		case busy:
			why = "it still uses CPU: a master that imports the app before it forks?"
		}
		log.Info("new worker of the rolling reload not seen waiting for connections yet; the old workers serve on while it is waited for, up to ready_timeout, where the reload is abandoned if it still is not",
			"pid", pid, "wid", wid, "why", why, "holders", holders, "waited", soft, "ready_timeout", bound)
	}
}

// awaitStarted ends the spawn window of p, a new worker with readiness
// "spawn" and no socket to be seen waiting on: it is ready once it is
// seen asleep or has used spawnWindow of CPU (handover.Started). A
// program that fails at once is neither before it exits, however long
// the machine's load makes it take: counting it ready once it had lived
// spawnWindow of wall-clock time let a rolling reload replace serving
// workers with a crash loop on a loaded machine.
func (w *Watcher) awaitStarted(p *Process) {
	pid, cpu := p.Pid, w.spawnWindow
	bound := max(min(handoverWait, w.spec.ReadyTimeout)-cpu, cpu)
	w.host.Check(Check{Watcher: w.id, Kind: CheckHandover, Pid: pid, Gen: p.gen}, bound,
		func(ctx context.Context) error { return handover.Started(ctx, pid, cpu) })
}

// handedOver ends the wait awaitHandover or awaitStarted began: p is
// ready, seen waiting for connections (or started) or not, unless it has
// exited: then it died before it was ready, which its exit, on its way to
// Ended, says; or unless its worker processes have all exited while it
// lives on, or one of them exited and none waited by ready_timeout, or it
// is a new worker of a rolling reload never seen waiting: then it failed
// its readiness.
func (w *Watcher) handedOver(p *Process, err error) {
	if p.State != ProcStarting || errors.Is(err, handover.ErrExited) {
		return
	}
	if errors.Is(err, handover.ErrStillLoading) && !w.newInRoll(p) {
		// Its own processes hold the socket and none waited: a master
		// still loading, or a process pool that inherited a socket it
		// never uses. Failed, it would be started again and fail again
		// at every ready_timeout; with no serving worker of a rolling
		// reload to keep, it counts as ready, as it always did.
		w.log.Warn("new worker's processes hold its sockets and none waited on them by ready_timeout; counting it ready, as no rolling reload waits on it (a rolling reload to such a worker is abandoned)",
			"pid", p.Pid, "wid", p.Wid, "error", err)
		w.ready(p)
		return
	}
	if errors.Is(err, handover.ErrWorkersExited) || errors.Is(err, handover.ErrWorkerLost) || errors.Is(err, handover.ErrStillLoading) {
		// A master that outlived its workers (uvicorn --workers N with
		// an app that cannot be imported) would never serve; one that
		// lost a worker before any waited, or still loads (its workers
		// hold the socket, none waits on it), and has not served by
		// ready_timeout fails it, as any readiness does.
		w.notReady(p, err)
		return
	}
	switch {
	case errors.Is(err, handover.ErrNotSeen) && w.waitsSeen(p):
		// It replaces serving workers and has shown no sign of serving:
		// counted ready, a worker that hangs before it serves (a Go
		// server stuck before it takes its socket) would have every
		// serving worker stopped.
		w.notReady(p, notSeenInRoll(w.spec.Name, w.spec.ReadyTimeout, err))
		return
	case errors.Is(err, handover.ErrNotSeen):
		w.log.Warn("new worker not seen waiting for connections on its sockets; counting it ready, as no rolling reload waits on it (a rolling reload to such a worker is abandoned at ready_timeout): if it hangs before it serves, nothing answers on its sockets; if it serves where /proc cannot show it waiting (io_uring, a socket of its own), set readiness \"notify\", \"http\" or \"delay\" for this watcher; if it never accepts on them, give this watcher no sockets",
			"pid", p.Pid, "wid", p.Wid, "error", err)
	case errors.Is(err, handover.ErrNotStarted):
		w.log.Info("new worker neither seen asleep nor using CPU; counting it ready (readiness spawn)",
			"pid", p.Pid, "wid", p.Wid, "error", err)
	case err != nil:
		w.log.Info("new worker's wait for connections cannot be looked at; counting it ready (readiness spawn)",
			"pid", p.Pid, "wid", p.Wid, "error", err)
	}
	if err == nil {
		w.seenServing = true
	}
	w.ready(p)
}

// waitsSeen tells whether p, a worker with readiness "spawn" on sockets,
// must be seen waiting on them before it counts as ready: a new worker of
// a rolling reload of a watcher whose workers have been seen waiting
// before. The new version then shows no sign of serving where the old
// one did (a Go server that hangs before it takes its socket), and
// counted ready, it would have every serving worker stopped. A watcher
// whose workers were never seen waiting (a server on io_uring, workers
// that never accept on an inherited socket) gives nothing to compare:
// its new workers count as ready at the bound, with a warning, as at a
// start.
func (w *Watcher) waitsSeen(p *Process) bool {
	return w.seenServing && w.newInRoll(p)
}

// notSeenInRoll is the failed readiness of a new worker of a rolling
// reload of watcher name never seen waiting for connections by
// ready_timeout (err, handover's ErrNotSeen, which says when it gave
// up): what it means and what to do.
func notSeenInRoll(name string, timeout time.Duration, err error) error {
	return fmt.Errorf("%w (readiness spawn): it has shown no sign of serving, so it replaces no serving worker. "+
		"If it hangs before it serves, its output may say why; if it loads longer, raise ready_timeout (%v) of watcher %q; "+
		"if it serves where /proc cannot show it waiting (a server on io_uring, or on a socket of its own), set readiness = \"notify\", \"http\" (ready_url) or \"delay\" for watcher %q; "+
		"if it never accepts on its sockets (a job that inherited them), give watcher %q no sockets",
		err, timeout, name, name, name)
}
