package arbiter

// Frozen workers. A worker whose cgroup is frozen (cgroup.freeze from an
// operator, systemctl freeze, an orchestrator's pause) sleeps in the
// kernel, so /proc says "sleeping", and it takes no caught signal:
// poold's SIGCONT after a stop signal, which wakes a worker stopped by
// SIGSTOP, did not wake it, and every stop of it sat out the whole
// graceful_timeout before its SIGKILL.

// thaw thaws worker pid's own cgroup, where poold sends it SIGCONT (after
// its stop signal, or a signal command's CONT), as systemd thaws a frozen
// unit it stops. On the loop.
func (a *Arbiter) thaw(pid int) {
	g := a.groups[pid]
	if g == nil {
		return
	}
	if err := g.Thaw(); err != nil {
		a.log.Warn("cannot thaw the worker's cgroup; a frozen worker ends only at its SIGKILL", "pid", pid, "error", err)
	}
}
