package arbiter

import (
	"fmt"
	"time"
)

// readStuckAfter is how long a config reload's read (the file, and the
// user and group lookups of its checks) may take before poold counts it
// as stuck: a file on a hung NFS or FUSE mount, an NSS lookup that never
// answers. Reading 10,000 watchers takes well under a second.
var readStuckAfter = 15 * time.Second

// readBegins notes, on the loop, that a reload's read of the config
// begins (readConfig) and arms the timer that declares it stuck. It
// returns the read's number and the channel its goroutine closes when
// it ends.
func (a *Arbiter) readBegins(reply func(reloadOutcome, error)) (int, chan struct{}) {
	r := &a.reading
	r.busy, r.inRead, r.stuck, r.since, r.reply = true, true, false, time.Now(), reply
	r.gen++
	r.done = make(chan struct{})
	gen := r.gen
	r.timer = time.AfterFunc(readStuckAfter, func() { a.post(funcMsg{func() { a.readStuck(gen) }}) })
	return gen, r.done
}

// readReturned, on the loop: the read numbered gen returned. It reports
// whether its outcome is to be used: not when it had been declared stuck,
// its reload answered already; then the next reload may read.
func (a *Arbiter) readReturned(gen int) bool {
	r := &a.reading
	if r.gen != gen || !r.inRead {
		return false // cannot happen: one read at a time
	}
	r.timer.Stop()
	r.inRead, r.reply = false, nil
	if !r.stuck {
		return true
	}
	r.stuck = false
	a.log.Warn("config reload: the read of the config file that was stuck returned after all; what it read is not applied (its reload was answered as failed): reload again",
		"config", a.cfg.Path, "after", time.Since(r.since).Round(time.Second))
	a.readDone()
	return false
}

// readStuck, on the loop, declares the read numbered gen stuck if it
// still runs: its reload and those queued behind it are answered with
// stuckErr, and so is every reload asked for until it returns
// (reloadConfig), rather than waiting for it without end. The read
// itself cannot be cancelled: it goes on, and the next reload waits for
// it to return, so that stuck reads do not pile up.
func (a *Arbiter) readStuck(gen int) {
	r := &a.reading
	if r.gen != gen || !r.inRead || r.stuck {
		return
	}
	r.stuck = true
	a.log.Warn("config reload: "+a.stuckFor()+"; reloads are refused until it returns", "config", a.cfg.Path)
	reply, queued := r.reply, r.queued
	r.reply, r.queued = nil, nil
	a.refuseReload(func(o reloadOutcome, err error) { // one read refused: one event
		reply(o, err)
		for _, q := range queued {
			q(o, err)
		}
	}, a.stuckErr())
}

// stuckErr is the error of a reload asked for while the current read of
// the config is stuck: for how long, and what to do. Call it on the loop.
func (a *Arbiter) stuckErr() error {
	return fmt.Errorf("%s, so this reload is refused at once rather than queued behind it; make the file readable again, and reload once poold logs that the read returned", a.stuckFor())
}

// stuckFor says that the current read of the config is stuck, and since
// when. Call it on the loop.
func (a *Arbiter) stuckFor() string {
	r := &a.reading
	return fmt.Sprintf("a read of the config file %s has been stuck for %s (begun at %s; a hung NFS or FUSE mount, or a user or group lookup that does not answer?)",
		a.cfg.Path, time.Since(r.since).Round(time.Second), r.since.Format(time.TimeOnly))
}

// waitRead, as Run returns (the loop has ended), waits for a config read
// still running, at most until it would count as stuck, so that poold's
// exit does not wait for ever on a hung mount.
func (a *Arbiter) waitRead() {
	r := &a.reading
	if !r.inRead {
		return
	}
	r.timer.Stop()
	select {
	case <-r.done:
		return
	case <-time.After(max(time.Until(r.since.Add(readStuckAfter)), 0)):
	}
	// The read's goroutine is left running on purpose: it is blocked in
	// a system call (stat, open or read on a hung mount, a lookup) that
	// Go cannot cancel, and only the process's exit ends it. When it
	// returns before that, its post finds the loop gone and returns
	// (a.stopped is closed), so it touches nothing of the arbiter.
	a.log.Warn("poold stops without waiting for its read of the config file, stuck: the read is abandoned",
		"config", a.cfg.Path, "stuck_for", time.Since(r.since).Round(time.Second))
}
