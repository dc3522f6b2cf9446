package zmqguard

import "time"

// A peer its owner serves nothing (on the control endpoint, a uid that no
// access rule admits) is answered, then hung up on (HangUp); but one that
// completed its handshake and sent nothing, or nothing more after a reply
// that did not hang up on it (a malformed request's), kept its
// connections, up to its own bound, for as long as it liked.
// Options.IdleTimeout closes such a connection once its peer has been
// quiet that long with nothing owed to it. Other peers' connections are
// never closed for being quiet: a persistent client (CircusClient) may say
// nothing for hours between two requests.

// armIdle starts c's idle timer when Options.IdleTimeout bounds p, its
// peer. It runs before c's writer starts; the writer owns the timer.
func (c *conn) armIdle(p Peer) {
	f := c.g.opts.IdleTimeout
	if f == nil {
		return
	}
	c.idlePeer = p
	if d := f(p); d > 0 {
		c.idleTimer = time.NewTimer(d)
	}
}

// RecheckIdle asks Options.IdleTimeout again for every completed
// connection, as for a new one: call it when what it answers has changed
// (the control endpoint's access rules, reloaded, now refuse a uid whose
// quiet connections were open). A connection it now bounds is closed once
// its peer has been quiet that long with nothing owed to it; one it no
// longer bounds keeps its connection (checkIdle). It does not block.
func (g *Guard) RecheckIdle() {
	if g.opts.IdleTimeout == nil {
		return
	}
	for _, c := range g.held.all() {
		select {
		case c.recheck <- struct{}{}:
		default: // one already asked, not yet taken
		}
	}
}

// recheckIdle runs on c's writer for RecheckIdle: it starts the idle
// timer (again) when the bound now applies to c's peer.
func (c *conn) recheckIdle() {
	if d := c.g.opts.IdleTimeout(c.idlePeer); d > 0 {
		if c.idleTimer == nil {
			c.idleTimer = time.NewTimer(d)
			return
		}
		c.idleTimer.Reset(d)
	}
}

// idleC is the channel of c's idle timer, nil when it has none.
func (c *conn) idleC() <-chan time.Time {
	if c.idleTimer == nil {
		return nil
	}
	return c.idleTimer.C
}

// checkIdle runs on c's writer when its idle timer fires. It asks the
// bound again (a config reload may have lifted it: then the timer stays
// off) and closes c if its peer has sent nothing for that long, every
// request of it answered and nothing queued for it; else it re-arms the
// timer for when that may be.
func (c *conn) checkIdle() {
	d := c.g.opts.IdleTimeout(c.idlePeer)
	if d <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	quiet := time.Duration(time.Now().UnixNano() - c.lastActive.Load())
	switch {
	case !c.idle() || len(c.pending)+c.inflight > 0:
		c.idleTimer.Reset(d)
	case quiet < d:
		c.idleTimer.Reset(d - quiet)
	default:
		c.g.idleClosed.Add(1)
		c.closeSoonLocked()
	}
}

// stopIdle stops c's idle timer, if any, as its writer ends.
func (c *conn) stopIdle() {
	if c.idleTimer != nil {
		c.idleTimer.Stop()
	}
}
