package sdnotify

// Reloading sends RELOADING=1 (with MONOTONIC_USEC) at once, on a socket
// of its own, and returns once it is written: poold calls it just before
// re-executing itself in place, where a message left to Run would be lost.
// The new image sends READY=1 once it has taken over (same pid, so
// systemd's MAINPID holds).
func (n *Notifier) Reloading() {
	c := &conn{addr: n.opts.Socket}
	defer c.close()
	c.send(n.log, message("RELOADING=1", monotonicField(monotonicUsec()), status("upgrading poold in place")))
}
