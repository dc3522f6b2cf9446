package arbiter

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher"
	"github.com/poold/poold/watcher/launch"
)

// targetsAndWait reads the properties every lifecycle command shares: the
// watchers it acts on and whether the reply waits for them to settle.
func (a *Arbiter) targetsAndWait(m *cmdMsg) ([]*watcher.Watcher, bool, error) {
	ws, err := a.matchTargets(m)
	if err != nil {
		return nil, false, err
	}
	wait, err := m.props().boolean("waiting", false)
	return ws, wait, err
}

func (a *Arbiter) lifecycle(m *cmdMsg, act func(ws []*watcher.Watcher, done func())) error {
	ws, wait, err := a.targetsAndWait(m)
	if err != nil {
		return err
	}
	fields := infoOf(m, ws)
	var unserved []string
	if m.req.Command == "stop" {
		stopping := a.withDependents(ws)
		unserved = a.unservedByStop(stopping)
		a.warnUnserved("stop", stopping, unserved)
		fields = withUnserved(fields, unserved)
	}
	if !wait {
		act(ws, nil)
		m.ok(withUnserved(func() map[string]any { return nil }, unserved)())
		return nil
	}
	var meant []*watcher.Watcher // what a start or restart means to run, before act
	if m.req.Command != "stop" {
		meant = a.withDeps(a.toStart(m, ws))
	}
	act(ws, func() {
		a.whenOneShotsEnd(meant, func() {
			// A waited start (or restart) that left slots without a worker
			// did not start them: say so, as systemctl start would.
			why := joinWhy(startFailures(m.req.Command, managed(meant)), a.runsAgain(m.req.Command, managed(ws)))
			why = joinWhy(letGoOf(m.req.Command, ws), why)
			if why != "" {
				m.failWith(errorf(ErrnoAsync, "%s: %s", m.req.Command, why), fields())
				return
			}
			m.ok(withEnded(fields(), managed(meant)))
		})
	})
	return nil
}

// startFailures words the watchers in ws a start, restart, add (with
// start) or reload (of a stopped watcher, which starts it) did not start
// (a hook, a dependency down) and the slots of running ones left without
// a worker (a spawn error, a worker dead before it was ready, a
// one-shot's worker that failed), at most a few slots; "" when there is
// none or cmd is not one.
func startFailures(cmd string, ws []*watcher.Watcher) string {
	if cmd != "start" && cmd != "restart" && cmd != "add" && cmd != "reload" {
		return ""
	}
	const shown = 3
	var parts []string
	n := 0
	for _, w := range ws {
		if err := w.StartError(); err != nil {
			if !toldBy(ws, w, err.Error()) {
				parts = append(parts, fmt.Sprintf("watcher %q was not started: %v", w.Name(), err))
			}
			continue
		}
		if w.Status() == watcher.Stopped {
			if w.RanOut() && toldBy(ws, w, w.Reason()) {
				continue // a dependant's "not started" tells how it failed
			}
			if cmd != "add" || w.RanOut() { // add without start leaves it stopped
				parts = appendWhy(parts, stoppedWhy(w, cmd))
			}
			continue
		}
		// A worker of a one-shot that failed before the start was done
		// (the others still run) fails the start, as a one-shot's does.
		parts = appendWhy(parts, w.FailedEnds())
		for _, s := range w.Slots() {
			if s.Pid != 0 || s.State == string(watcher.HoldExited) {
				continue
			}
			if n++; n <= shown {
				parts = append(parts, fmt.Sprintf("watcher %q wid %d has no worker (%s: %s)", w.Name(), s.Wid, s.State, s.LastExit))
			}
		}
	}
	if n > shown {
		parts = append(parts, fmt.Sprintf("%d more such slots (poolctl status shows them)", n-shown))
	}
	return strings.Join(parts, "; ")
}

// runsAgain words the watchers of ws a waited stop stopped that run
// again by the time it settled, or are about to: a start or restart that
// came in while they were stopping started them after the stop (or, a
// restart, starts them next), so an ok would tell the client they are
// down when they are not. "" for any other cmd.
func (a *Arbiter) runsAgain(cmd string, ws []*watcher.Watcher) string {
	if cmd != "stop" {
		return ""
	}
	var parts []string
	for _, w := range ws {
		switch {
		case w.Status() != watcher.Stopped:
			parts = append(parts, fmt.Sprintf("watcher %q runs again (%s): a start or restart that came in before the stop was done started it after it", w.Name(), w.Status()))
		case a.isRestarting(w):
			parts = append(parts, fmt.Sprintf("watcher %q stopped, but a restart that came in before the stop was done is starting it again", w.Name()))
		}
	}
	return strings.Join(parts, "; ")
}

// toldBy reports whether another watcher of ws failed to start for w's
// reason: one that depends on w quotes it ("it depends on watcher "db",
// which is stopped: not started: WHY"), so w's own line would say WHY
// twice.
func toldBy(ws []*watcher.Watcher, w *watcher.Watcher, why string) bool {
	name := strconv.Quote(w.Name())
	for _, o := range ws {
		err := o.StartError()
		if o == w || err == nil {
			continue
		}
		if s := err.Error(); len(s) > len(why) && strings.Contains(s, why) && strings.Contains(s, name) {
			return true
		}
	}
	return false
}

// cutShort words a watcher that a stop, rm, quit or removing reload stopped before cmd,
// which meant it to run, was done with it.
func cutShort(w *watcher.Watcher, cmd string) string {
	return fmt.Sprintf("watcher %q was stopped before the %s finished (a stop, rm, quit or a reload that removed it came in between and canceled it)", w.Name(), cmd)
}

// runningOf lists the watchers of ws that are not stopped now, for
// stoppedSince.
func runningOf(ws []*watcher.Watcher) []*watcher.Watcher {
	var out []*watcher.Watcher
	for _, w := range ws {
		if w.Status() != watcher.Stopped {
			out = append(out, w)
		}
	}
	return out
}

// stoppedSince words the watchers of running (see runningOf) that are
// stopped now: a waited cmd that meant them to keep running was cut
// short. "" when none is.
func (a *Arbiter) stoppedSince(cmd string, running []*watcher.Watcher) string {
	var parts []string
	for _, w := range running {
		// A restart's stop is followed by its start, with the size the
		// command set: that stop cut nothing short.
		if w.Status() == watcher.Stopped && !a.isRestarting(w) {
			parts = appendWhy(parts, stoppedWhy(w, cmd))
		}
	}
	return strings.Join(parts, "; ")
}

// cmdStart starts the named watcher after what it depends on; without a
// name, the autostart watchers (a watcher with autostart = false starts
// only when named).
func cmdStart(a *Arbiter, m *cmdMsg) error {
	return a.lifecycle(m, func(ws []*watcher.Watcher, done func()) {
		a.startInOrder(a.withDeps(a.toStart(m, ws)), done)
	})
}

// toStart is what a start or restart of ws starts: without a name, the
// autostart watchers and those that run, but none on its way out.
func (a *Arbiter) toStart(m *cmdMsg, ws []*watcher.Watcher) []*watcher.Watcher {
	if m.props().has("name") {
		return ws
	}
	return a.sorted(func(w *watcher.Watcher) bool {
		return (w.Spec().Autostart || w.Status() != watcher.Stopped) && a.notLeaving(w, m.req.Command) == nil
	})
}

// cmdStop stops the named watcher after what depends on it.
func cmdStop(a *Arbiter, m *cmdMsg) error {
	return a.lifecycle(m, func(ws []*watcher.Watcher, done func()) {
		all := a.withDependents(ws)
		a.noteDependents(m.req.Command, ws, all)
		a.stopInOrder(all, done)
	})
}

// cmdRestart stops the named watcher and its running dependents, then
// starts it (with its dependencies) and those dependents again. Without a
// name it restarts what runs and the autostart watchers.
func cmdRestart(a *Arbiter, m *cmdMsg) error {
	return a.lifecycle(m, func(ws []*watcher.Watcher, done func()) {
		ws = a.toStart(m, ws)
		named := map[*watcher.Watcher]bool{}
		for _, w := range ws {
			named[w] = true
		}
		var again []*watcher.Watcher
		for _, w := range a.withDependents(ws) {
			if named[w] || w.Status() != watcher.Stopped {
				again = append(again, w)
			}
		}
		a.noteDependents(m.req.Command, ws, again)
		a.restart(again, done)
	})
}

func cmdReload(a *Arbiter, m *cmdMsg) error {
	graceful, err := m.props().boolean("graceful", true)
	if err != nil {
		return err
	}
	sequential, err := m.props().boolean("sequential", false)
	if err != nil {
		return err
	}
	ws, wait, err := a.targetsAndWait(m)
	if err != nil {
		return err
	}
	fields := infoOf(m, ws)
	running := runningOf(ws)
	// A reload starts a stopped watcher, as circusd's: that is a start,
	// answered as one (a one-shot that failed fails it).
	started := slices.DeleteFunc(slices.Clone(ws), func(w *watcher.Watcher) bool { return slices.Contains(running, w) })
	for _, w := range ws {
		w.Reload(graceful, sequential)
	}
	now := func() map[string]any { return nil } // an unwaited reply's fields
	if !m.props().has("name") && len(started) > 0 {
		// poold's addition: a reload of every watcher starts the stopped
		// ones, as circusd's, which a user who stopped one on purpose
		// should hear of (poolctl lists them).
		fields = withStartedStopped(fields, started)
		now = withStartedStopped(now, started)
	}
	if !wait {
		m.ok(now())
		return nil
	}
	whenAllSettled(ws, func() {
		var errs []string
		if why := letGoOf("reload", ws); why != "" {
			errs = append(errs, why)
		}
		for _, w := range managed(ws) {
			if err := w.ReloadError(); err != nil {
				errs = append(errs, err.Error())
			}
		}
		if why := a.stoppedSince("reload", managed(running)); why != "" {
			errs = append(errs, why)
		}
		if why := startFailures("reload", managed(started)); why != "" {
			errs = append(errs, why)
		}
		if len(errs) > 0 {
			m.fail(errorf(ErrnoAsync, "reload: %s", strings.Join(errs, "; ")))
			return
		}
		m.ok(withEnded(fields(), managed(ws)))
	})
	return nil
}

func cmdIncr(a *Arbiter, m *cmdMsg) error { return a.scale(m, 1) }
func cmdDecr(a *Arbiter, m *cmdMsg) error { return a.scale(m, -1) }

func (a *Arbiter) scale(m *cmdMsg, sign int) error {
	w, err := a.watcherProp(m)
	if err != nil {
		return err
	}
	nb, err := m.props().integer("nb", 1)
	if err != nil {
		return err
	}
	if nb < 0 {
		return errorf(ErrnoBadProperty, "%s: property \"nb\" must be >= 0, got %d", m.req.Command, nb)
	}
	if w.Spec().Singleton {
		// As circusd: a singleton keeps its count, and says why.
		m.ok(map[string]any{"numprocesses": w.Target(), "singleton": true})
		return nil
	}
	// An elastic pool moves within min_workers..max_workers.
	old := w.Target()
	asked := max(old+sign*nb, 0)
	n := w.Clamp(asked)
	if err := a.checkCeiling(m.req.Command, w.Spec(), n); err != nil {
		return err
	}
	// A stopped watcher stays stopped, as in circusd (and as with set
	// numprocesses): the next start runs n workers.
	before := w.Spec()
	before.NumProcesses = w.Configured()
	w.SetTarget(n)
	a.noteOrigin(m, w, before)
	target := w.Target()
	var unserved []string
	if sign < 0 {
		unserved = a.unservedBy(w, old)
		a.warnUnserved("decr", []*watcher.Watcher{w}, unserved)
	}
	return a.finish(m, []*watcher.Watcher{w}, func() map[string]any {
		r := map[string]any{"numprocesses": target}
		if len(unserved) > 0 {
			// poolctl warns that connections wait in the backlog.
			r["unserved_sockets"] = unserved
		}
		if old > 0 && old+sign*nb < 0 {
			// A decr past the pool's size stops at 0, as circusd's; the
			// size it had lets poolctl say that every worker stops (a
			// pool already at 0 has none to stop).
			r["previous"] = old
		}
		if target != asked {
			boundFields(r, w.Spec(), old, sign)
		}
		return r
	})
}

// boundFields adds to the reply of an incr (sign 1) or decr (-1) that an
// elastic pool's bounds held back what the pool had (previous), the
// bound (max or min) and the key that sets it (limit), so a client can
// say that the pool did not grow (or shrink) as asked, and why: Circus's
// reply has numprocesses alone, which does not tell.
func boundFields(r map[string]any, spec configs.Watcher, old, sign int) {
	lo, hi := spec.Bounds()
	r["previous"] = old
	switch {
	case sign < 0:
		r["min"], r["limit"] = lo, "min_workers"
	case spec.MaxWorkers > 0:
		r["max"], r["limit"] = hi, "max_workers"
	default: // on_demand without max_workers grows to numprocesses
		r["max"], r["limit"] = hi, "numprocesses"
	}
}

func cmdAdd(a *Arbiter, m *cmdMsg) error {
	p := m.props()
	name, err := p.str("name")
	if err != nil {
		return err
	}
	cmd, err := p.str("cmd")
	if err != nil {
		return err
	}
	if name == "" || cmd == "" {
		return errorf(ErrnoBadProperty, "add: properties \"name\" and \"cmd\" are required")
	}
	// As circusd, and as a config file's watcher: the name keeps its
	// case (status, stats, options), list and the event topics give it
	// lower-cased, and every command finds it by any case.
	if w, exists := a.watchers[strings.ToLower(name)]; exists {
		if a.leaving[w] { // "rm it first" would tell a user who just did
			return errorf(ErrnoFailed, "add: watcher %q is being removed (by rm or a config reload) and its workers are stopping; "+
				"add it again once it is gone (`poolctl list`; `poolctl rm --waiting` returns then), or reloadconfig a file that defines it", name)
		}
		if w.Name() != name { // another spelling: name the one status shows
			return errorf(ErrnoFailed, "add: watcher %q already exists as %q (names are matched without case); rm it first or pick another name", name, w.Name())
		}
		return errorf(ErrnoFailed, "add: watcher %q already exists; rm it first or pick another name", name)
	}
	given, opts, err := addOptions(p, name, cmd)
	if err != nil {
		return err
	}
	start, err := p.boolean("start", false)
	if err != nil {
		return err
	}
	spec, err := configs.WatcherFromOptions(name, "", opts, a.cfg.Sockets)
	if err != nil {
		return errorf(ErrnoBadProperty, "add: %v", err)
	}
	if err := a.checkCeiling("add", spec, capacityChange(spec, nil)); err != nil {
		return err
	}
	if err := a.refuseUnenforced(spec, nil); err != nil {
		return errorf(ErrnoBadProperty, "add: %v", err)
	}
	if err := launch.CheckHooks(spec); err != nil {
		return errorf(ErrnoBadProperty, "add: %v", err)
	}
	if err := configs.CheckDependsOn(append(a.specs(), spec)); err != nil {
		return errorf(ErrnoBadProperty, "add: %v", err)
	}
	w, err := a.addWatcher(spec)
	if err != nil {
		return errorf(ErrnoBadProperty, "add: %v", err)
	}
	a.noteArgs(w, given, true)
	a.bus.Publish(w.Name(), events.KindAdd, nil)
	if start {
		// After what it depends on, as start NAME.
		a.startInOrder(a.withDeps([]*watcher.Watcher{w}), nil)
	}
	return a.finish(m, []*watcher.Watcher{w}, addedStarted(m, w))
}

// addOptions reads add's options with its cmd and args properties in
// them (the properties win), as given and in poold's terms (fromCircus).
func addOptions(p props, name, cmd string) (given, opts map[string]any, err error) {
	if given, err = p.obj("options"); err != nil {
		return nil, nil, err
	}
	given = maps.Clone(given)
	if given == nil {
		given = map[string]any{}
	}
	if args, ok := p.p["args"]; ok && args != nil {
		given["args"] = args
	}
	given["cmd"] = cmd
	if opts, err = fromCircus(given, configs.DefaultWatcher(name)); err != nil {
		return nil, nil, errorf(ErrnoBadProperty, "add: watcher %q: %v", name, err)
	}
	return given, opts, nil
}

// checkCeiling refuses to give watcher spec n workers when that is over
// its max_processes or makes all watchers together exceed the arbiter's.
func (a *Arbiter) checkCeiling(cmd string, spec configs.Watcher, n int) error {
	if n > spec.MaxProcesses {
		return errorf(ErrnoBadProperty, "%s: watcher %q would have %d workers, over its max_processes %d; set max_processes higher first if the machine can take them",
			cmd, spec.Name, n, spec.MaxProcesses)
	}
	total := n
	for _, o := range a.watchers {
		if !strings.EqualFold(o.Name(), spec.Name) {
			total += o.Capacity() // an elastic pool may grow to its max_workers
		}
	}
	if total > a.cfg.Arbiter.MaxProcesses {
		who := fmt.Sprintf("with %d workers", n)
		if _, hi := spec.Bounds(); spec.Elastic() && n == hi {
			who = fmt.Sprintf("growing to its max_workers %d", n)
		}
		return errorf(ErrnoBadProperty, "%s: watcher %q %s makes %d in all, over arbiter.max_processes %d; raise it in the config and reload if the machine can take them",
			cmd, spec.Name, who, total, a.cfg.Arbiter.MaxProcesses)
	}
	return nil
}

// capacityChange is what checkCeiling counts for a watcher given spec by
// set or add: the most workers it may run, so an elastic pool counts at
// its max_workers as in a config file (it grows there on its own). A set
// that does not raise that capacity counts its numprocesses, as before,
// so options unrelated to the size stay settable after a config reload
// lowered arbiter.max_processes under the pools' capacity.
func capacityChange(spec configs.Watcher, before *configs.Watcher) int {
	if before != nil && spec.Capacity() <= before.Capacity() {
		return spec.NumProcesses
	}
	return spec.Capacity()
}
