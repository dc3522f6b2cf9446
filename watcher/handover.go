package watcher

import (
	"context"
	"time"

	"github.com/poold/poold/watcher/handover"
)

// handoverWait bounds how long a worker with readiness "spawn" that
// replaces another stays starting until it is seen waiting for
// connections (ready_timeout too, if shorter). A worker whose wait
// /proc cannot show (a busy loop, a server that never polls the socket)
// then counts as ready, as "spawn" always did.
const handoverWait = 10 * time.Second

// awaitHandover starts watching p, a new worker with readiness "spawn",
// when it replaces old workers and inherits sockets: it stays starting
// until it waits for connections on one of them (handover.Wait), so the
// workers it replaces stop only once it can take their clients. An old
// worker that stops closes its kept-alive connections, and the clients
// reconnect at once: with no new worker accepting yet, the reconnection
// lands on another old worker, which closes it again at its turn.
func (w *Watcher) awaitHandover(p *Process) bool {
	if w.tally.kinds[kindOld] == 0 || len(w.socks.Files) == 0 {
		return false
	}
	socks, err := handover.InodesOf(w.socks.Files)
	if err != nil {
		w.log.Debug("cannot see the sockets' inodes; the new worker counts as ready at spawn", "pid", p.Pid, "error", err)
		return false
	}
	pid := p.Pid
	w.host.Check(Check{Watcher: w.id, Kind: CheckHandover, Pid: pid, Gen: p.gen}, min(handoverWait, w.spec.ReadyTimeout),
		func(ctx context.Context) error {
			_, err := handover.Wait(ctx, pid, socks)
			return err
		})
	return true
}

// handedOver ends the wait awaitHandover began: p is ready, seen waiting
// for connections or not.
func (w *Watcher) handedOver(p *Process, err error) {
	if p.State != ProcStarting {
		return
	}
	if err != nil {
		w.log.Info("new worker not seen waiting for connections on its sockets; counting it ready (readiness spawn)",
			"pid", p.Pid, "wid", p.Wid, "error", err)
	}
	w.ready(p)
}
