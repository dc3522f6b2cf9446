package controller

import (
	"errors"
	"syscall"
)

// acceptError logs that the control endpoint cannot accept connections
// (zmqguard's OnAcceptError): when it starts failing, with what ran out
// and what to do, and when it accepts again, at most once a minute
// (fds hovering at the limit fail and free again every few
// milliseconds; the line after the minute counts the runs left out).
// Without it, a poold whose fds its workers' pipes and log files used up
// left every new poolctl waiting until its timeout, and said nothing.
// It runs on the accept loop's goroutine.
func (c *Controller) acceptError(err error, failed int) {
	if err == nil {
		if c.acceptLogged.Swap(false) {
			c.log.Info("control endpoint accepting connections again", "endpoint", c.loggedEndpoint(), "failed_accepts", failed)
		}
		return
	}
	ok, suppressed := c.acceptFails.Allow("accept")
	if !ok {
		return
	}
	c.acceptLogged.Store(true)
	args := []any{"endpoint", c.loggedEndpoint(), "error", err, "runs_left_out", suppressed}
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) == nil {
		args = append(args, "nofile", rl.Cur)
	}
	switch {
	case errors.Is(err, syscall.EMFILE):
		c.log.Error("control endpoint cannot accept connections: poold's open-file limit (RLIMIT_NOFILE) is used up, "+
			"by its workers' output pipes and log files and by connections to it; new clients wait until an fd is free "+
			"(poolctl times out); raise the limit (ulimit -n, systemd LimitNOFILE=, docker --ulimit nofile=), "+
			"or free fds: poolctl decr a watcher, close idle clients (ss -xp, ss -tnp)", args...)
	case errors.Is(err, syscall.ENFILE):
		c.log.Error("control endpoint cannot accept connections: the system's file table is full (fs.file-max); "+
			"new clients wait until a file is closed; raise sysctl fs.file-max, or find the process holding the most (lsof)", args...)
	default:
		c.log.Error("control endpoint cannot accept connections; new clients wait while poold retries", args...)
	}
}
