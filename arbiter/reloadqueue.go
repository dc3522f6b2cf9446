package arbiter

import "time"

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

	// The read of the current reload, from readBegins to readReturned
	// (readstuck.go): gen numbers it, since is when it began, reply is
	// its reload's until it returns or is declared stuck, done is closed
	// when its goroutine ends, and timer declares it stuck.
	inRead, stuck bool
	gen           int
	since         time.Time
	reply         func(reloadOutcome, error)
	done          chan struct{}
	timer         *time.Timer
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
		a.refuseReload(all, errStopping)
		return
	}
	a.readConfig(all)
}
