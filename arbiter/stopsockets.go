package arbiter

import "github.com/poold/poold/watcher"

// releaseSockets, while poold stops, lets go of each socket no watcher
// that is still running uses: once the workers that hold it have closed
// it too, a client is refused at once. Held until poold exits, a socket
// whose watchers had stopped took every new connection into a backlog
// nobody accepted from, while a slower watcher's graceful_timeout ran
// (a load balancer that still sends traffic after SIGTERM, as Kubernetes
// does, saw each such connection hang until its own timeout). Nothing
// starts a worker once poold is stopping, and a stopped watcher has no
// start in flight, so no worker can need the socket again.
func (a *Arbiter) releaseSockets() {
	held := a.socks.List()
	if len(held) == 0 {
		return
	}
	inUse := map[string]bool{}
	for _, w := range a.watchers {
		if w.Status() == watcher.Stopped {
			continue
		}
		for _, name := range w.Spec().SocketNames(a.cfg.Sockets) {
			inUse[name] = true
		}
	}
	var idle []string
	for _, l := range held {
		if !inUse[l.Name] {
			idle = append(idle, l.Name)
		}
	}
	if len(idle) == 0 {
		return
	}
	released, err := a.socks.Release(idle...)
	for _, l := range released {
		a.log.Info("socket closed: the watchers using it have stopped; new connections are refused", "socket", l.Name, "address", l.Addr())
	}
	if err != nil {
		a.log.Warn("closing sockets of stopped watchers", "error", err)
	}
}
