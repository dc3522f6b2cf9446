package arbiter

import (
	"time"

	"github.com/poold/poold/arbiter/upgrade"
	"github.com/poold/poold/arbiter/wire"
)

// The control requests in flight at an upgrade's exec. The exec closes
// every control connection: a request poold had read and not answered by
// then never got an answer (the client timed out, or lost its connection
// not knowing whether a write was done). So the exec step begins by
// holding the control endpoint (Upgrader.Hold): it accepts no new
// connection (those wait for the new image) and tells when every request
// it took is answered. The loop, in the hand-over, serves no command;
// just before the exec it answers each one that reached it, and each one
// that reaches it until the endpoint is idle, with an error that says
// that it was not run and to send it again (wire.NotRun): none of them
// was run. Then it execs.

// holdWait bounds the wait for the control endpoint's last answers: a
// reply that cannot be written by then (a client that stopped reading)
// is not worth holding the exec, and every worker's supervision, for;
// nor is a client that sends again on the same connection each time it
// is told not run (Circus clients do), which keeps the endpoint from
// ever being quiet (r52b-ctl: 2 s of a frozen loop per upgrade).
var holdWait = 300 * time.Millisecond

// upgradingError is the refusal of command, not run because poold is
// re-executing itself.
func upgradingError(command string) error {
	return errorf(ErrnoFailed, "poold is being upgraded in place (it re-executes itself now): %q was not run; send it again in a moment, when the new image answers (poolctl does)", command)
}

//
// When the new binary takes the open control connections over
// (Upgrader.Conns), the hold freezes them instead: each stops reading at
// a message boundary, and what its client sends next waits in the
// socket for the new image. The loop then answers what reached it as
// above, waits for the endpoint to be quiet (every connection stopped,
// every reply written) before it writes the state that lists them, and
// execs: no request is cut.

// controlHold is the hold of the control endpoint during one exec step.
type controlHold struct {
	a       *Arbiter
	quiet   func() bool
	release func()
	conns   []upgrade.Conn // handed over (takeConns)
	seal    func()
	frozen  bool // the connections are frozen for the new image
	// keepCasts: the new image runs the casts that reach the loop during
	// the hold (casts, in order; a.held too, should the exec fail).
	keepCasts bool
	casts     []upgrade.Cast
	refused   int // commands answered not run
	dropped   int // casts dropped (the new image does not take them)
	// deadline bounds the whole wait for quiet (holdWait from the first
	// answerTaken); warned: its log line was written.
	deadline time.Time
	warned   bool
}

// holdControl holds the control endpoint for the exec step (see above).
func (a *Arbiter) holdControl() *controlHold {
	h := &controlHold{a: a, quiet: func() bool { return true }, release: func() {}, seal: func() {}}
	u := a.opts.Upgrade
	if u != nil && u.Hold != nil {
		h.quiet, h.release, h.frozen = u.Hold()
	}
	h.keepCasts = u != nil && u.Casts != nil && u.Casts()
	return h
}

// takeConns waits for the endpoint to be quiet and lists the control
// connections the new image takes over, if it does; cancel closes what
// was opened for them when the exec does not happen.
func (h *controlHold) takeConns() (cancel func()) {
	u := h.a.opts.Upgrade
	if u == nil || u.Conns == nil || !h.frozen {
		return func() {}
	}
	h.a.answerTaken(h)
	conns, seal, cancel := u.Conns()
	if seal != nil {
		h.conns, h.seal = conns, seal
	}
	if cancel == nil {
		cancel = func() {}
	}
	return cancel
}

// take answers a command that reached the loop during the hold with the
// refusal (not run), or keeps a cast for the new image; other messages
// are kept in a.held, for the loop to handle should the exec fail.
func (h *controlHold) take(m any) {
	a := h.a
	cm, ok := m.(*cmdMsg)
	switch {
	case !ok:
		a.held = append(a.held, m)
	case cm.req.MsgType != "cast":
		cm.failWith(upgradingError(cm.req.Command), map[string]any{wire.NotRun: true})
		h.refused++
	case h.keepCasts:
		if c, err := castOf(cm); err == nil {
			h.casts = append(h.casts, c)
			a.held = append(a.held, m)
			return
		}
		h.dropped++
	default:
		h.dropped++
	}
}

// answerTaken takes (h.take) every message that reaches the loop until
// the control endpoint is quiet, or h's deadline (holdWait from its
// first call: one bound for the whole hold), then those posted
// meanwhile. On the loop, before the exec.
func (a *Arbiter) answerTaken(h *controlHold) {
	if h.deadline.IsZero() {
		h.deadline = time.Now().Add(holdWait)
	}
	if !h.warned {
		a.waitQuiet(h)
	}
	for { // posted by others meanwhile (the console): taken too
		select {
		case m := <-a.inbox:
			h.take(m)
		default:
			h.logTaken()
			return
		}
	}
}

// waitQuiet takes messages until the endpoint is quiet or h's deadline.
func (a *Arbiter) waitQuiet(h *controlHold) {
	deadline := time.NewTimer(time.Until(h.deadline))
	defer deadline.Stop()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case m := <-a.inbox:
			h.take(m)
		case <-deadline.C:
			h.warned = true
			what := "the endpoint to be quiet"
			if u := a.opts.Upgrade; u != nil && u.Waiting != nil {
				what = u.Waiting()
			}
			a.log.Warn("upgrade: control endpoint not quiet; executing anyway", "waited", holdWait, "waiting_for", what)
			return
		case <-tick.C:
			if h.quiet() {
				return
			}
		}
	}
}

// logTaken logs, once each, the commands refused and casts dropped.
func (h *controlHold) logTaken() {
	if h.refused > 0 {
		h.a.log.Info("upgrade: control commands that came during the hand-over refused, not run (their clients send them again)", "commands", h.refused)
		h.refused = 0
	}
	if h.dropped > 0 {
		h.a.log.Warn("upgrade: casts that came during the hand-over dropped, not run: the new binary does not take them over", "casts", h.dropped)
		h.dropped = 0
	}
}

// replayHeld handles the messages answerTaken kept, after a failed exec.
func (a *Arbiter) replayHeld() {
	held := a.held
	a.held = nil
	for _, m := range held {
		if e, ok := m.(exitMsg); ok {
			a.exits(e)
			continue
		}
		a.handle(m)
	}
}
