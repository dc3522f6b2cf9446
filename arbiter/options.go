package arbiter

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher"
	"github.com/poold/poold/watcher/launch"
	"github.com/poold/poold/watcher/procinfo"
)

// options are a watcher's options as the options and get commands give
// them: Circus's shapes for Circus's options (circusShaped); withhold hides
// env's values (a read-only caller).
func (a *Arbiter) options(w *watcher.Watcher, withhold bool) map[string]any {
	opts := circusShaped(configs.WatcherOptions(w.Spec()))
	if withhold {
		withholdEnv(opts)
	}
	opts["args"] = a.circusArgs(w)
	a.circusOnlyOptions(w, opts)
	if opts["working_dir"] == "" {
		// As circusd: the directory the workers start in, not "".
		if dir, err := launch.Dir(w.Spec()); err == nil {
			opts["working_dir"] = dir
		}
	}
	return opts
}

func cmdGet(a *Arbiter, m *cmdMsg) error {
	w, err := a.watcherProp(m)
	if err != nil {
		return err
	}
	keys, ok := m.req.Properties["keys"].([]any)
	if !ok {
		return errorf(ErrnoBadProperty, "get: property \"keys\" must be a list of option names, e.g. [\"numprocesses\"]")
	}
	// No keys: no options, as circusd answers ({"options": {}}).
	all := a.options(w, m.withhold)
	delete(all, "__name__") // options shows circusd's section name; its get has no such option
	out := Ordered{Values: make(map[string]any, len(keys))}
	for _, k := range keys {
		ks, _ := k.(string)
		v, ok := all[ks]
		if !ok {
			keys := sortedKeys(all)
			return errorf(ErrnoBadProperty, "get: watcher %q has no option %v%s (options: %s)", w.Name(), k, didYouMeanKey(ks, keys), listCapped(keys, "options"))
		}
		if _, dup := out.Values[ks]; !dup {
			out.Keys = append(out.Keys, ks)
		}
		out.Values[ks] = v
	}
	m.ok(map[string]any{"options": out})
	return nil
}

// Ordered is a JSON object whose keys keep an order: get answers in the
// order the keys were asked, as circusd does (circusctl prints them so,
// and scripts read its lines by position).
type Ordered struct {
	Keys   []string
	Values map[string]any
}

// MarshalJSON writes the object with its keys in order.
func (o Ordered) MarshalJSON() ([]byte, error) {
	buf := []byte{'{'}
	for i, k := range o.Keys {
		if i > 0 {
			buf = append(buf, ',')
		}
		kb, err := json.Marshal(k)
		if err != nil {
			return nil, err
		}
		vb, err := json.Marshal(o.Values[k])
		if err != nil {
			return nil, err
		}
		buf = append(append(append(buf, kb...), ':'), vb...)
	}
	return append(buf, '}'), nil
}

func sortedKeys(m map[string]any) []string { return slices.Sorted(maps.Keys(m)) }

func cmdSet(a *Arbiter, m *cmdMsg) error {
	w, err := a.watcherProp(m)
	if err != nil {
		return err
	}
	opts, err := m.props().obj("options")
	if err != nil {
		return err
	}
	if len(opts) == 0 {
		return errorf(ErrnoBadProperty, "set: property \"options\" must be a non-empty object of option: value")
	}
	updates, given := circusUpdates(opts), opts
	opts = maps.Clone(opts)
	closeChild, err := takeCloseChild(opts)
	if err != nil {
		return errorf(ErrnoBadProperty, "set: watcher %q: %v", w.Name(), err)
	}
	if len(opts) == 0 { // only close_child_*: nothing to change
		for range updates {
			a.bus.Publish(w.Name(), events.KindUpdated, nil)
		}
		a.noteCloseChild(w, closeChild)
		m.ok(nil)
		return nil
	}
	if opts, err = fromCircus(opts, w.Spec()); err != nil {
		return errorf(ErrnoBadProperty, "set: watcher %q: %v", w.Name(), err)
	}
	base := w.Spec()
	base.NumProcesses = w.Configured() // an elastic pool's, not its size in force
	spec, err := configs.ApplyOptions(base, opts, a.cfg.Sockets)
	if err != nil {
		return errorf(ErrnoBadProperty, "set: %v%s", err, elasticHint(w.Name(), base, opts))
	}
	socks, err := a.checkSet("set", w.Name(), base, spec)
	if err != nil {
		return err
	}
	// circusd publishes updated once per option set; w.Update publishes
	// one, so the others go out before it (and before any spawn or kill
	// it causes), once nothing can refuse the set: Update fails only on
	// the credential.
	if _, err := spec.Credential(); err != nil {
		return errorf(ErrnoBadProperty, "set: watcher %q: %v", w.Name(), err)
	}
	for range updates - 1 {
		a.bus.Publish(w.Name(), events.KindUpdated, nil)
	}
	old := w.Target()
	if err := w.Update(spec, socks); err != nil {
		return errorf(ErrnoBadProperty, "set: %v", err)
	}
	a.noteArgs(w, given, false)
	a.noteCloseChild(w, closeChild)
	if _, ok := opts["numprocesses"]; ok && spec.Elastic() && w.Status() != watcher.Stopped {
		w.SetTarget(spec.NumProcesses) // moves the size within the bounds
	}
	a.noteOrigin(m, w, base)
	rollAnyway(w, given, base, spec)
	var unserved []string
	if _, ok := opts["numprocesses"]; ok {
		unserved = a.unservedBy(w, old)
		a.warnUnserved("set", []*watcher.Watcher{w}, unserved)
	}
	fields := withUnserved(func() map[string]any { return nil }, unserved)
	return a.finishChecked(m, []*watcher.Watcher{w}, fields, supersededSince("set", w, given, base, w.Spec()))
}

// supersededSince words, once a waited set (or reset: cmd) that rolls w's workers over
// has settled, that a later set or config reload gave one of the fields
// it changed (from base to applied) another value before its workers
// were replaced: an ok would name a state that does not run. A size
// changed since is resizedSince's; a watcher stopped or let go of since,
// stoppedSince's and letGoOf's. nil for a set that rolls nothing over.
func supersededSince(cmd string, w *watcher.Watcher, given map[string]any, base, applied configs.Watcher) func() string {
	c := watcher.Compare(base, applied)
	if !c.Restart {
		return nil
	}
	changed := slices.DeleteFunc(c.Fields, func(f string) bool { return f == "NumProcesses" })
	return func() string {
		// A rollout abandoned put the spec it replaced back: its reason
		// (changeFailures) says so, and nothing later superseded the set.
		if w.Abandoned() || w.Status() == watcher.Stopped || w.ReloadError() != nil {
			return ""
		}
		now := watcher.Compare(applied, w.Spec()).Fields
		if !slices.ContainsFunc(changed, func(f string) bool { return slices.Contains(now, f) }) {
			return ""
		}
		return fmt.Sprintf("watcher %q no longer runs what this %s gave it (%s): a later set or config reload changed it again before its workers were replaced (poolctl options %s shows what it runs now)",
			w.Name(), cmd, strings.Join(sortedKeys(given), ", "), w.Name())
	}
}

// rollAnyway rolls running w's workers over for a set of opts (Circus's
// names, as given) that changed nothing they run (base to spec) but
// names a key circusd's set rolls the workers over for whatever its
// value: a deploy that swaps the program in place, then sets cmd to the
// same path, restarts onto it. A set that changes what they run rolls
// them over in any case (w.Update).
func rollAnyway(w *watcher.Watcher, opts map[string]any, base, spec configs.Watcher) {
	if w.Status() == watcher.Stopped || watcher.Compare(base, spec).Restart {
		return
	}
	for _, k := range []string{"cmd", "args", "env", "working_dir", "uid", "gid", "shell"} {
		if _, ok := opts[k]; ok {
			w.Reload(true, false)
			return
		}
	}
}

// checkSet refuses a set (or reset: cmd) that would turn watcher name's spec from before
// into spec when it could not run: the host's ceilings, dependencies,
// hooks, sockets. It returns the sockets spec takes.
func (a *Arbiter) checkSet(cmd, name string, before, spec configs.Watcher) (watcher.Sockets, error) {
	others := []configs.Watcher{spec}
	for _, o := range a.specs() {
		if o.Name != name {
			others = append(others, o)
		}
	}
	if err := a.checkCeiling(cmd, spec, capacityChange(spec, &before)); err != nil {
		return watcher.Sockets{}, err
	}
	if err := configs.CheckDependsOn(others); err != nil {
		return watcher.Sockets{}, errorf(ErrnoBadProperty, "%s: %v", cmd, err)
	}
	if !maps.Equal(spec.Hooks, before.Hooks) {
		// Only hooks the set changes: one whose program went away since
		// must not refuse an unrelated set.
		if err := launch.CheckHooks(spec); err != nil {
			return watcher.Sockets{}, errorf(ErrnoBadProperty, "%s: %v", cmd, err)
		}
	}
	socks, err := a.handoff(spec, a.cfg.Sockets)
	if err != nil {
		return watcher.Sockets{}, errorf(ErrnoBadProperty, "%s: %v", cmd, err)
	}
	if err := a.refuseUnenforced(spec, &before); err != nil {
		return watcher.Sockets{}, errorf(ErrnoBadProperty, "%s: %v (nothing was changed)", cmd, err)
	}
	if err := checkSetRunnable(before, spec); err != nil {
		return watcher.Sockets{}, errorf(ErrnoBadProperty, "%s: %v (nothing was changed)", cmd, err)
	}
	return socks, nil
}

// circusUpdates is how many updated events circusd publishes for a set
// of opts: one per option, and one per hook for hooks.
func circusUpdates(opts map[string]any) int {
	n := 0
	for k, v := range opts {
		if hooks, ok := v.(map[string]any); ok && k == "hooks" {
			n += len(hooks)
			continue
		}
		n++
	}
	return n
}

func cmdOptions(a *Arbiter, m *cmdMsg) error {
	w, err := a.watcherProp(m)
	if err != nil {
		return err
	}
	m.ok(map[string]any{"options": a.options(w, m.withhold)})
	return nil
}

func cmdGlobalOptions(a *Arbiter, m *cmdMsg) error {
	c := a.cfg.Arbiter
	all := map[string]any{
		"endpoint": c.Endpoint, "pubsub_endpoint": c.PubSubEndpoint, "stats_endpoint": c.StatsEndpoint,
		"stats_interval": c.StatsInterval.Seconds(), "check_delay": procinfo.Float(checkDelay.Seconds()), "allow_remote": c.AllowRemote,
		"log_level": c.LogLevel, "log_format": c.LogFormat, "numwatchers": len(a.watchers),
		"max_processes": c.MaxProcesses, "event_history": c.EventHistory, "stuck_after": c.StuckAfter.Seconds(),
		"config": a.cfg.Path, "pid": os.Getpid(), "containment": a.containment,
		// Circus's multicast discovery, which poold does not have: "" as
		// circusd with multicast_endpoint empty (off), so a Circus tool
		// that reads it finds it off rather than an error.
		"multicast_endpoint": "",
	}
	maps.Copy(all, a.logStats())
	opt, err := m.props().str("option")
	if err != nil {
		return err
	}
	if opt == "" {
		m.ok(map[string]any{"options": all})
		return nil
	}
	v, ok := all[opt]
	if !ok {
		return errorf(ErrnoBadProperty, "globaloptions: no option %q; options are: %s", opt, strings.Join(sortedKeys(all), ", "))
	}
	m.ok(map[string]any{"options": map[string]any{opt: v}})
	return nil
}
