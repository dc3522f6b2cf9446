package metrics

import (
	"context"
	"errors"
	"time"
)

// cutoff is a context cut at a time that may be put later until it has
// come: a flight's read (flight.go) is cut at the latest bound of the
// scrapes that share it, so a scrape that joins with a longer bound than
// the one that began the read moves the cut to its own. It is also cut,
// at once, when poold's metrics stop (Run returns). Its time is guarded
// by the Exporter's fmu.
type cutoff struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	at     time.Time
	timer  *time.Timer
}

// newCutoff is a cutoff at at, cut too when parent is done.
func newCutoff(parent context.Context, at time.Time) *cutoff {
	ctx, cancel := context.WithCancelCause(parent)
	c := &cutoff{ctx: ctx, cancel: cancel, at: at}
	c.timer = time.AfterFunc(time.Until(at), func() { cancel(context.DeadlineExceeded) })
	return c
}

// extend puts the cut at at when that is later than it is. It reports
// false when the cut has come, or is coming (its timer fired), so the
// read it cuts cannot serve a bound beyond it.
func (c *cutoff) extend(at time.Time) bool {
	if c.ctx.Err() != nil {
		return false
	}
	if !at.After(c.at) {
		return true
	}
	if !c.timer.Stop() {
		return false
	}
	c.at = at
	c.timer.Reset(time.Until(at))
	return true
}

// timedOut reports whether the cut came at its time.
func (c *cutoff) timedOut() bool {
	return errors.Is(context.Cause(c.ctx), context.DeadlineExceeded)
}

// halted reports whether the cut came before its time: the metrics stop.
// Meaningful only before end.
func (c *cutoff) halted() bool { return c.ctx.Err() != nil && !c.timedOut() }

// end lets go of its timer and context once the read is over.
func (c *cutoff) end() {
	c.timer.Stop()
	c.cancel(context.Canceled)
}
