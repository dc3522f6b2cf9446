package arbiter

// Lifecycle is told of the moments a service manager cares about (see
// arbiter/sdnotify): a config reload beginning and ending, and poold
// beginning to stop. Its methods run on the arbiter's loop and must not
// block: record and return.
type Lifecycle interface {
	// ReloadBegan: a config reload (SIGHUP or reloadconfig) started.
	ReloadBegan()
	// ReloadEnded: that reload is over, every watcher it touched has
	// settled; err says why it was rejected or rolled back, nil when it
	// applied in full. Every ReloadBegan is followed by one ReloadEnded,
	// unless poold stops first.
	ReloadEnded(err error)
	// Stopping: poold began to stop every watcher (SIGTERM, SIGINT,
	// quit, or a failed transport). Called once.
	Stopping()
}

// noteReload tells Options.Lifecycle that a reload begins and wraps reply
// so that its end is told too. Call it on the loop.
func (a *Arbiter) noteReload(reply func(reloadOutcome, error)) func(reloadOutcome, error) {
	lc := a.opts.Lifecycle
	if lc == nil {
		return reply
	}
	lc.ReloadBegan()
	return func(o reloadOutcome, err error) {
		reply(o, err)
		if err == nil {
			err = o.err()
		}
		lc.ReloadEnded(err)
	}
}

// noteStopping tells Options.Lifecycle that poold is stopping, once.
func (a *Arbiter) noteStopping() {
	if a.opts.Lifecycle != nil && !a.stopping {
		a.opts.Lifecycle.Stopping()
	}
}
