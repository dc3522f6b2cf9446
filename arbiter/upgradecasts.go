package arbiter

import (
	"encoding/json"
	"fmt"

	"github.com/poold/poold/arbiter/upgrade"
)

// Casts (commands without a reply) that reach the loop while it hands
// over: a connection frozen for the new image stops at a message
// boundary, but a cast it had read by then still comes to the old
// image's loop, which runs nothing any more. Refusing it, as a request
// is, tells nobody: a cast has no reply. So when the new binary takes
// them (its pre-flight said "control-casts"), they go to it in the
// state, in the order they came, and it runs them before anything its
// own connections bring (runHandedCasts, before the loop). Should the
// exec fail, the old image runs them (a.held). An older binary does not
// take them: they are dropped, and the log says how many.

// castOf is m as the state carries it.
func castOf(m *cmdMsg) (upgrade.Cast, error) {
	b, err := json.Marshal(m.req)
	if err != nil {
		return upgrade.Cast{}, err
	}
	c := upgrade.Cast{Request: b}
	if m.who != nil {
		c.Caller = m.who()
	}
	return c, nil
}

// runHandedCasts runs, on the loop before it serves anything else, the
// casts the previous image took during its hand-over.
func (a *Arbiter) runHandedCasts(casts []upgrade.Cast) {
	for i, c := range casts {
		var req Request
		if err := json.Unmarshal(c.Request, &req); err != nil || req.MsgType != "cast" {
			a.log.Error("upgrade: a cast handed over by the previous image is not one; not run", "index", i, "request", string(c.Request), "error", fmt.Sprint(err))
			continue
		}
		if _, ok := commands[req.Command]; !ok {
			continue // as Handle: an unknown cast is not run
		}
		caller := c.Caller
		if req.Command == "upgrade" {
			// It came while an upgrade ran, the one that brought this
			// image: one at a time, as a second SIGUSR2 (see Upgrade).
			a.log.Warn("upgrade: an upgrade cast that came during the previous upgrade not run: that upgrade is done (poolctl upgrade --status); send it again for another",
				"caller", caller)
			continue
		}
		m := &cmdMsg{req: req, reply: make(chan answer, 1), who: func() string { return caller }}
		a.log.Info("upgrade: running a cast the previous image took during its hand-over", "command", req.Command, "caller", caller)
		a.handle(m) // its failure logged as any cast's (logCastOutcome)
	}
}
