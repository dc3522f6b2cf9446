package arbiter

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher"
	"github.com/poold/poold/watcher/launch"
)

// errStopping refuses a config reload once poold is stopping (SIGTERM,
// quit): what it would start the stop would cut short at once.
var errStopping = errors.New("poold is stopping, so the config is not reloaded; start poold again to run the new config")

// errRejected wraps a config that was refused before anything changed.
type errRejected struct{ err error }

func (e errRejected) Error() string { return e.err.Error() + " (nothing was changed)" }
func (e errRejected) Unwrap() error { return e.err }

// reloadMsg asks the loop to re-read the configuration (SIGHUP).
type reloadMsg struct{}

// Reload re-reads the configuration and applies it (SIGHUP). The outcome
// is logged; an invalid config changes nothing.
func (a *Arbiter) Reload() {
	a.signalled.reload.Add(1)
	a.post(reloadMsg{})
}

// reloadConfig re-reads the config outside the loop (file I/O, and the
// user and group lookups of every watcher) and applies it on the loop;
// reply is called on the loop with the outcome, once every watcher the
// new config touched has settled. Call it on the loop.
func (a *Arbiter) reloadConfig(reply func(reloadOutcome, error)) {
	if a.stopping {
		a.refuseReload(reply, errStopping)
		return
	}
	reply = a.noteReload(a.recordReload(a.countReload(reply)))
	if a.opts.Load == nil {
		a.refuseReload(reply, errors.New("poold was started without a config file to re-read"))
		return
	}
	if a.reading.stuck {
		a.refuseReload(reply, a.stuckErr())
		return
	}
	if a.reading.busy {
		a.reading.queued = append(a.reading.queued, reply)
		return
	}
	a.readConfig(reply)
}

// readConfig reads the file for a reload that reloadConfig let through
// and starts applying it; readDone lets the next one through.
func (a *Arbiter) readConfig(reply func(reloadOutcome, error)) {
	// A watcher on its way out is not running for this reload: a file
	// that defines it again adds it (restore).
	running := a.staying()
	began := a.present()
	control := a.cfg.Arbiter
	noCgroups := "" // what contains workers instead, when poold has no cgroups
	if a.tree == nil {
		noCgroups = a.containment
	}
	filed := make(map[string]configs.Watcher, len(a.filed))
	for key, spec := range a.filed {
		filed[key] = spec.Clone()
	}
	// Not in a.bg: a read stuck on a hung mount must not hold up poold's
	// exit (waitRead).
	gen, done := a.readBegins(reply)
	go func() {
		defer close(done)
		cfg, err := a.opts.Load()
		if err == nil {
			err = refuseEmpty(cfg, len(running))
		}
		if err == nil {
			err = checkWatchers(cfg, running, filed, noCgroups)
		}
		if err == nil {
			err = checkControl(cfg, control)
		}
		if err != nil {
			inSourceTerms(cfg, err)
			a.post(funcMsg{func() {
				if a.readReturned(gen) {
					a.handle(configMsg{err: err, reply: reply})
				}
			}})
			return
		}
		a.post(funcMsg{func() {
			if a.readReturned(gen) {
				a.prepareReload(cfg, began, reply)
			}
		}})
	}()
}

// inSourceTerms has the problems of err, a reload's checks of cfg,
// name a translated file's sections, options and lines
// (cfg.SourceTerms), as the start and --check do: a refused reload of a
// supervisord.conf named watchers.ghost.cmd, without a line. err may
// join several errors (errors.Join).
func inSourceTerms(cfg *configs.Config, err error) {
	if cfg == nil || cfg.SourceTerms == nil {
		return
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		var ce *configs.Error
		if errors.As(e, &ce) {
			cfg.SourceTerms(ce)
		}
	}
}

// countReload counts the reload until reply is called, so that an
// upgrade waits for it: the exec would drop a reload whose file is still
// being read, and the answer of one that waits for its watchers to
// settle. Call it on the loop; reply runs on the loop too.
func (a *Arbiter) countReload(reply func(reloadOutcome, error)) func(reloadOutcome, error) {
	a.reloads++
	return func(o reloadOutcome, err error) {
		a.reloads--
		reply(o, err)
	}
}

// prepareReload, on the loop, makes the notify sockets that watchers
// already running need under cfg (those switching to readiness notify or
// to scale_busy_target), the one step of a reload on the loop that can
// fail, and only then has cfg's sockets applied. So a config refused for
// want of a notify socket changes nothing. Applying the sockets binds new
// ones, and resolving their host names may wait on DNS: that is done off
// the loop (the socket set has its own lock).
func (a *Arbiter) prepareReload(cfg *configs.Config, began map[*watcher.Watcher]bool, reply func(reloadOutcome, error)) {
	if a.stopping { // began while the file was read
		a.refuseReload(reply, errStopping)
		a.readDone()
		return
	}
	for _, spec := range cfg.Watchers {
		if _, running := a.watchers[strings.ToLower(spec.Name)]; running && needsNotify(spec) {
			if _, err := a.notifySocket(spec.Name); err != nil {
				a.refuseReload(reply, err)
				a.readDone()
				return
			}
		}
	}
	sw := a.leftSweep()
	a.bg.Add(1)
	go func() {
		defer a.bg.Done()
		before := a.socks.List()
		closeRemoved, err := a.socks.ApplyFreeing(cfg.Sockets, sw.free)
		err = sw.explain(err)
		if err == nil {
			after := a.socks.List()
			sw.sweepShared(a.socks, freshSockets(before, after))
			closeRemoved = logSocketChanges(a.log, before, after, closeRemoved)
		}
		a.post(configMsg{cfg: cfg, began: began, err: err, closeRemoved: closeRemoved, reply: reply})
	}()
}

// refuseEmpty refuses a file that defines no watcher and no socket while
// n watchers run: most likely one caught mid-write (a tool truncates it,
// then writes), and applying it would stop everything.
func refuseEmpty(cfg *configs.Config, n int) error {
	if n == 0 || len(cfg.Watchers) > 0 || len(cfg.Sockets) > 0 {
		return nil
	}
	return fmt.Errorf("%s defines no watchers and no sockets: refusing to stop %s (a file caught while it was written?); fix the file and reload, or stop them with poolctl stop or rm if that is what you mean", cfg.Path, allWatchers(n))
}

// allWatchers is "the 1 watcher" or "all 3 watchers".
func allWatchers(n int) string {
	if n == 1 {
		return "the 1 watcher"
	}
	return fmt.Sprintf("all %d watchers", n)
}

// checkWatchers checks what only this machine can tell of a new config,
// as poold --check does (launch.Check): every watcher's user and group
// exist, its working_dir is a directory and its program can be run by
// that user. A watcher the reload leaves as it runs
// (running holds the specs in force, filed the file's last sections, by
// lower-case name) is not checked: a program missing since poold started
// (or a user, group or working_dir removed since) is that watcher's own
// trouble (it retries with backoff), not a reason to refuse an edit
// elsewhere. A watcher the reload changes must also still be valid with
// its run-time changes kept (configs.CheckMerged). Where poold has no
// cgroups (noCgroups says what contains workers instead; "" when it has
// them), a limit the reload brings is refused: no worker could start
// (unenforced). It runs off the loop.
func checkWatchers(cfg *configs.Config, running, filed map[string]configs.Watcher, noCgroups string) error {
	var touched []configs.Watcher
	var merged []error
	for _, spec := range cfg.Watchers {
		key := strings.ToLower(spec.Name)
		if cur, ok := running[key]; ok {
			inFile := spec
			var changed bool
			if spec, changed = fromFile(spec, cur, filed, key); !changed {
				continue
			}
			if err := configs.CheckMerged(cfg.Path, spec, inFile, cfg.Sockets); err != nil {
				merged = append(merged, err)
				continue
			}
		}
		touched = append(touched, spec)
	}
	if len(merged) > 0 {
		return errors.Join(merged...)
	}
	err := launch.CheckAll(cfg.Path, touched)
	if noCgroups == "" {
		return err
	}
	return joinProblems(cfg.Path, unenforcedAll(cfg.Path, touched, running, noCgroups), err)
}

// checkControl refuses control rules that a reload changes when one of
// them names a user or group this machine does not know (a typo, most
// likely). Rules the reload leaves as they are apply as they did, an
// unknown name matching nobody (configs.ParseControlRule): a user deleted
// since poold started is no reason to refuse an edit elsewhere.
func checkControl(cfg *configs.Config, running configs.Arbiter) error {
	if slices.Equal(cfg.Arbiter.ControlAllow, running.ControlAllow) &&
		slices.Equal(cfg.Arbiter.ControlReadOnly, running.ControlReadOnly) {
		return nil
	}
	return configs.ControlProblems(cfg.Path, cfg.Arbiter)
}

// fromFile is the spec a reload gives a running watcher whose section
// the file now holds as spec: the keys the file changed since it last
// gave the section (filed[key]) take their new value, the others keep
// the value they run with (run-time incr, decr, set), as circusd keeps
// them. Without a last section (a watcher added by the add command) it is
// spec itself. changed says whether that differs from running.
func fromFile(spec, running configs.Watcher, filed map[string]configs.Watcher, key string) (configs.Watcher, bool) {
	if was, ok := filed[key]; ok {
		spec = watcher.Merge(running, was, spec)
	}
	return spec, watcher.Compare(running, spec).Any()
}

// byName indexes specs by lower-case name.
func byName(specs []configs.Watcher) map[string]configs.Watcher {
	m := make(map[string]configs.Watcher, len(specs))
	for _, s := range specs {
		m[strings.ToLower(s.Name)] = s.Clone()
	}
	return m
}

// applyConfig applies a loaded config whose sockets are already applied
// (new ones bound before anything uses them) to the watchers: untouched ones are left alone,
// changed ones updated (scaled, or rolled over when how they start
// changed), new ones added and started, removed ones stopped then dropped.
// Sockets that left the config are closed once the watchers have settled.
// Anything that can fail is checked before anything changes.
func (a *Arbiter) applyConfig(cfg *configs.Config, began map[*watcher.Watcher]bool, closeRemoved func() error, reply func(reloadOutcome, error)) {
	if a.stopping { // began while the sockets were applied
		_ = closeRemoved() // nothing closes them otherwise; the stop needs none
		a.refuseReload(reply, errStopping)
		return
	}
	plan, err := a.planReload(cfg, began)
	if err != nil {
		a.refuseReload(reply, err)
		return
	}
	o := plan.outcome
	o.Warnings, o.KnownWarnings = newWarnings(a.cfg.Warnings, cfg.Warnings) // before applySettings takes cfg
	o.Sockets = diffSockets(a.cfg.Sockets, cfg.Sockets)
	o.RestartNeeded, o.Settings = a.applySettings(cfg)
	prevFiled, filed := a.filed, byName(cfg.Watchers)
	a.filed = filed
	// A watcher that could not be updated or added keeps its old state
	// (none, for a new one) and is reported under rolled_back.
	failed := map[string]string{}
	var touched []*watcher.Watcher
	ran := plan.running() // for cutShortWhy
	reruns, held := a.oneShotReruns(plan.updates)
	for _, u := range held {
		if a.holding == nil {
			a.holding = map[*watcher.Watcher]bool{}
		}
		a.holding[u.w] = true
	}
	for _, u := range plan.updates {
		if isHeld(held, u.w) {
			continue // after the one-shots it depends on have run again
		}
		if err := u.w.Update(u.spec, u.socks); err != nil {
			// launch.Check passed off the loop for a changed watcher,
			// so this is not expected.
			a.log.Error("config reload: updating watcher failed", "watcher", u.spec.Name, "error", err)
			failed[u.spec.Name] = "not updated: " + err.Error()
			continue
		}
		touched = append(touched, u.w)
	}
	for _, w := range plan.standing {
		w.SpecStands()
	}
	started := append(a.addAll(plan, &o, failed), reruns...)
	a.publishApplying(o, touched, held)
	a.log.Info("config reload applying", "changes", o.summary())
	o.Kept = a.logKept()
	for _, w := range plan.removed {
		a.announceRemove(w)
	}
	a.retire(plan.removed, func() {
		// Added watchers, and changed one-shots that ran out
		// (reloadoneshot.go), start after what they depend on, which
		// a reload starts too if it is stopped, or waits for if it is
		// starting; the updates held for those one-shots follow.
		// The held updates wait for those one-shots' end, not their
		// readiness (r59b docs H1: an app rolled over 100 ms into a 4 s
		// migration, and beside one that then failed).
		a.startInOrder(a.withDeps(a.sortList(started)), func() {
			a.whenOneShotsEnd(reruns, func() {
				touched = append(touched, a.updateHeld(held, reruns, failed)...)
				whenAllSettled(append(touched, started...), func() {
					// After the workers of watchers still leaving (an
					// earlier reload's, or rm's) too: they may use them.
					whenAllSettled(a.stillLeaving(), func() {
						if err := closeRemoved(); err != nil {
							a.log.Warn("closing sockets removed from the config", "error", err)
						}
					})
					o := a.rolledBack(o, touched, ran, failed)
					o.NotStarted = notStarted(started)
					o.Failed, o.Ended = oneShotsOf(started)
					a.refile(o.RolledBack, prevFiled, filed)
					reply(o, nil)
				})
			})
		})
	})
}

// addAll adds the watchers plan adds: new ones, and leaving ones the file
// defines again (restored). It returns those to start; one that could not
// be added leaves o.Added for failed.
func (a *Arbiter) addAll(plan reloadPlan, o *reloadOutcome, failed map[string]string) []*watcher.Watcher {
	var started []*watcher.Watcher
	notAdded := func(name string, err error) {
		a.log.Error("config reload: adding watcher failed", "watcher", name, "error", err)
		failed[name] = "not added: " + err.Error()
		o.Added = slices.DeleteFunc(o.Added, func(n string) bool { return n == name })
	}
	for _, r := range plan.restored {
		start, err := a.restore(r.w, r.spec, r.socks)
		if err != nil {
			notAdded(r.spec.Name, err)
		} else if start {
			started = append(started, r.w)
		}
	}
	for _, spec := range plan.added {
		w, err := a.addWatcher(spec)
		if err != nil {
			notAdded(spec.Name, err)
			continue
		}
		a.bus.Publish(w.Name(), events.KindAdd, nil)
		if spec.Autostart {
			started = append(started, w)
		}
	}
	return started
}

// refile puts back the file's previous section of each watcher whose
// update was rolled back, so that the next reload of the same file tries
// the change again; filed is what this reload recorded (a later reload's
// record is left alone).
func (a *Arbiter) refile(rolledBack map[string]string, prev, filed map[string]configs.Watcher) {
	for name := range rolledBack {
		key := strings.ToLower(name)
		if cur, ok := a.filed[key]; !ok || watcher.Compare(cur, filed[key]).Any() {
			continue
		}
		if spec, ok := prev[key]; ok {
			a.filed[key] = spec
		} else {
			delete(a.filed, key)
		}
	}
}

type update struct {
	w     *watcher.Watcher
	spec  configs.Watcher
	socks watcher.Sockets
}

// reloadPlan is what a config reload will do; building it changes nothing.
type reloadPlan struct {
	updates []update
	added   []configs.Watcher
	// restored are leaving watchers the file defines again, with the
	// file's section: they are added back (retire.go).
	restored []update
	removed  []*watcher.Watcher
	// standing are the watchers whose section the file gives as they
	// run (unchanged): a change of theirs that was rolled back is over.
	standing []*watcher.Watcher
	outcome  reloadOutcome
}

// planReload plans cfg against the watchers now; began are those that ran
// when the reload was asked for: one added since (an add answered while
// the file was read) is not this reload's to remove, as circusd's
// reloadconfig, done before its next command, would not remove it.
func (a *Arbiter) planReload(cfg *configs.Config, began map[*watcher.Watcher]bool) (reloadPlan, error) {
	var p reloadPlan
	keep := map[string]bool{}
	for _, spec := range cfg.Watchers {
		key := strings.ToLower(spec.Name)
		keep[key] = true
		w, ok := a.watchers[key]
		if !ok {
			p.added = append(p.added, spec)
			p.outcome.Added = append(p.outcome.Added, spec.Name)
			continue
		}
		if a.leaving[w] {
			socks, err := a.handoff(spec, cfg.Sockets)
			if err != nil {
				return p, err
			}
			p.restored = append(p.restored, update{w, spec, socks})
			p.outcome.Added = append(p.outcome.Added, spec.Name)
			continue
		}
		// An elastic pool's size in force is poold's, not a run-time set:
		// a file that keeps numprocesses keeps the configured one (a cold
		// pool made fixed runs it, not the 0 it was at).
		running := w.Spec()
		running.NumProcesses = w.Configured()
		spec, changed := fromFile(spec, running, a.filed, key)
		socks, err := a.handoff(spec, cfg.Sockets)
		if err != nil {
			return p, err
		}
		if !changed && watcher.SameFiles(w.Sockets().Files, socks.Files) {
			p.outcome.Unchanged = append(p.outcome.Unchanged, spec.Name)
			p.standing = append(p.standing, w)
			continue
		}
		p.updates = append(p.updates, update{w, spec, socks})
		p.outcome.Updated = append(p.outcome.Updated, spec.Name)
	}
	for key, w := range a.watchers {
		if !keep[key] && !a.leaving[w] && began[w] { // one leaving is already on its way
			p.removed = append(p.removed, w)
			p.outcome.Removed = append(p.outcome.Removed, w.Name())
		}
	}
	return p, nil
}

// running are the watchers p updates that run now, before it applies.
func (p reloadPlan) running() map[*watcher.Watcher]bool {
	ran := map[*watcher.Watcher]bool{}
	for _, u := range p.updates {
		ran[u.w] = u.w.Status() != watcher.Stopped
	}
	return ran
}

func (a *Arbiter) sortList(ws []*watcher.Watcher) []*watcher.Watcher {
	in := map[*watcher.Watcher]bool{}
	for _, w := range ws {
		in[w] = true
	}
	return a.sorted(func(w *watcher.Watcher) bool { return in[w] })
}
