package arbiter

// refuse ends an upgrade that did not happen: nothing changed.
func (a *Arbiter) refuse(m *cmdMsg, err error) {
	a.upgrading = false
	a.upgraded.State, a.upgraded.Reason = "refused", err.Error()
	if a.stopping { // the reason says poold stops: something does change
		a.log.Error("upgrade refused", "error", err)
		m.fail(errorf(ErrnoFailed, "upgrade refused: %v", err))
		return
	}
	a.log.Error("upgrade refused; nothing changed", "error", err)
	m.fail(errorf(ErrnoFailed, "upgrade refused, nothing changed: %v", err))
}

// refuseExplained refuses m for err, a Bind error, once Upgrader.Explain
// has worded it, off the loop: its lookup of a port's holder took 8 to
// 41 s under load, and held every command and the workers' reaps on the
// loop. The upgrade stays under way (upgrading) until then.
func (a *Arbiter) refuseExplained(m *cmdMsg, err error) {
	explain := a.opts.Upgrade.Explain
	if explain == nil {
		a.refuse(m, err)
		return
	}
	a.bg.Add(1)
	go func() {
		defer a.bg.Done()
		err := explain(err)
		a.post(funcMsg{func() { a.refuse(m, err) }})
	}()
}
