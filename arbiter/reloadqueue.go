package arbiter

// reloadQueue lets one config reload at a time read its file and apply
// its sockets: from reloadConfig until its config is applied (or
// refused) on the loop. Reloads asked for meanwhile (SIGHUP, reloadconfig)
// wait, and then one reload, which reads the file after all of them
// were asked for, answers them all. Two reads side by side could end in
// either order (a slow check of many changed watchers, a socket's host
// name waiting on DNS), and the older file, applied last, would stay in
// force. Owned by the loop.
type reloadQueue struct {
	busy   bool
	queued []func(reloadOutcome, error)
}

// readDone, on the loop, ends the current reload's read once its config
// was applied or refused, and starts the one the queued requests share.
func (a *Arbiter) readDone() {
	a.reading.busy = false
	replies := a.reading.queued
	if len(replies) == 0 {
		return
	}
	a.reading.queued = nil
	all := func(o reloadOutcome, err error) {
		for _, reply := range replies {
			reply(o, err)
		}
	}
	if a.stopping {
		all(reloadOutcome{}, errRejected{errStopping})
		return
	}
	a.readConfig(all)
}
