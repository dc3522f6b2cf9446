package arbiter

// releaseSockets, once poold is stopping, lets go of poold's own copy of
// every socket: each one then ends as soon as the workers that hold it
// have closed theirs (a web server stops accepting first thing on its
// stop signal, gunicorn's master closes its listeners at once), and a
// client is refused at once instead of waiting in a backlog nobody will
// accept from. Held until poold exited, a socket took every connection
// for as long as the slowest watcher's stop took (a worker finishing a
// long request, a graceful_timeout of 30 s), while a load balancer that
// still sends traffic after SIGTERM, as Kubernetes does, saw each one
// hang until its own timeout.
//
// Nothing needs them again: Spawn refuses every start once poold is
// stopping, and no start is ever in flight between two messages of the
// loop (a watcher's reconcile finishes the fork of each start it begins).
func (a *Arbiter) releaseSockets() {
	held := a.socks.List()
	if len(held) == 0 {
		return
	}
	names := make([]string, 0, len(held))
	for _, l := range held {
		names = append(names, l.Name)
	}
	released, err := a.socks.Release(names...)
	for _, l := range released {
		if l.Passed() {
			// systemd keeps a .socket unit's socket: connections wait
			// in its backlog for the next start of poold.
			a.log.Info("socket closed: poold is stopping; the service manager keeps the socket it passed, so new connections wait for poold's next start once its workers stop accepting", "socket", l.Name, "address", l.Addr())
			continue
		}
		a.log.Info("socket closed: poold is stopping; new connections are refused once its workers stop accepting", "socket", l.Name, "address", l.Addr())
	}
	if err != nil {
		a.log.Warn("closing sockets while stopping", "error", err)
	}
}
