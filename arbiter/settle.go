package arbiter

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// An upgrade hands over watchers at rest or stopping; a step it cannot
// carry across the exec (a rolling reload, workers whose readiness is not
// proven yet, a hook, a start waiting for its stop: see watcher.Frozen;
// a watcher being removed, whose removal the state cannot carry, a
// waited command not answered yet, whose answer the exec would cut)
// makes it wait for that step to end rather than refuse. A rolling reload
// thus completes in the old image and the upgrade follows it; commands
// are served meanwhile.

const (
	// settleWait bounds the wait: under poolctl upgrade's own 2 minutes,
	// so that a watcher that never settles (a crash loop keeps starting
	// workers) ends in a refusal poolctl reports.
	settleWait = 90 * time.Second
	// settlePoll is how often the loop looks again.
	settlePoll = 50 * time.Millisecond
	// settleLogEvery bounds how often the log says what the wait is for:
	// a crash loop changes the reason at each start and end of its
	// workers, up to every settlePoll. upgrade_status has it at once.
	settleLogEvery = 5 * time.Second
)

// whenSettled runs fn on the loop once no watcher is in a step an upgrade
// cannot carry (upgrade_status's reason says which meanwhile), looking again every settlePoll; past a.settleBy, or once
// poold is stopping, it refuses the upgrade with what still held it.
func (a *Arbiter) whenSettled(m *cmdMsg, fn func()) {
	err := a.frozen()
	switch {
	case err == nil:
		fn()
		return
	case a.stopping:
		a.refuse(m, err)
		return
	case time.Now().After(a.settleBy):
		a.refuse(m, fmt.Errorf("still busy after waiting %v: %w; run the upgrade again once it is done", settleWait, err))
		return
	}
	why := err.Error()
	a.upgraded.Reason = why // upgrade_status says what it waits for
	// A reason that changed within settleLogEvery of the last line is
	// said once that has passed, if it still holds: the log never keeps
	// a stale one.
	if now := time.Now(); why != a.settleLogged && now.Sub(a.settleSaid) >= settleLogEvery {
		a.settleSaid, a.settleLogged = now, why
		a.log.Info("upgrade: waiting for watchers to settle; the upgrade goes on by itself once they have", "why", err)
	}
	time.AfterFunc(settlePoll, func() { a.post(funcMsg{func() { a.whenSettled(m, fn) }}) })
}

// parkedErr names the waited commands not answered yet (a reload whose
// old workers are still stopping, a start --waiting...), each with its
// watcher, or nil: their clients' connections close in the exec, so an
// answer not sent by then is lost and a client such as poolctl reports
// poold unreachable. Only the answer: a drain (reload, stop, decr) is
// carried across the exec, so the error says to send those without
// waiting, which a long graceful_timeout (websockets) needs. A command
// whose caller is gone (Ctrl-C closed its connection) is not parked any
// more (Arbiter.unpark): nobody waits for its answer.
func (a *Arbiter) parkedErr() error {
	var cmds []string
	for m := range a.parked {
		c := m.req.Command
		if name, _ := m.props().str("name"); name != "" {
			c += " " + strconv.Quote(name)
		}
		cmds = append(cmds, c)
	}
	if len(cmds) == 0 {
		return nil
	}
	slices.Sort(cmds)
	return fmt.Errorf("waited commands not answered yet (%s): the exec would cut their answers, not their work: "+
		"old workers draining after a reload, stop or decr are carried across it and stop under the new image at the same graceful_timeout, "+
		"so send those without waiting for the outcome (poolctl reload --no-wait; stop or decr without --waiting) before an upgrade, or interrupt the poolctl that waits (Ctrl-C): the upgrade then goes on", strings.Join(slices.Compact(cmds), ", "))
}
