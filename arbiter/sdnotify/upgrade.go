package sdnotify

// Reloading sends RELOADING=1 (with MONOTONIC_USEC) at once, on a socket
// of its own, and returns once it is written: poold calls it just before
// re-executing itself in place, where a message left to Run would be lost.
// The new image sends READY=1 once it has taken over (same pid, so
// systemd's MAINPID holds), whatever its watchers' readiness
// (Options.Upgraded). Before poold's first READY=1 it sends no
// RELOADING=1 (systemd, still starting poold, would ignore it): the new
// image then owes the start's READY=1 (Options.StartOwed).
//
// With the watchdog on it also sends WATCHDOG=1 (the caller is the event
// loop, which answers): the new image's first one then follows within its
// start, not up to a whole WatchdogSec after the old image's last one,
// which systemd would take for a hung poold and kill it with every worker.
func (n *Notifier) Reloading() {
	c := &conn{addr: n.opts.Socket, failing: &n.failing}
	defer c.close()
	dog := ""
	if n.opts.Watchdog > 0 {
		dog = "WATCHDOG=1"
	}
	if !n.told.Load() {
		c.send(n.log, message(status("upgrading poold in place"), dog))
		return
	}
	c.send(n.log, message("RELOADING=1", monotonicField(monotonicUsec()), status("upgrading poold in place"), dog))
}
