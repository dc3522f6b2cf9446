package arbiter

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher"
)

// The reset command is the way back from run-time changes to the config
// file, as systemctl revert is from drop-ins: a reload keeps the keys a
// set, incr or decr changed when the file left them alone (overrides.go),
// so putting the old file back does not undo them. reset NAME gives each
// such key of watcher NAME (or only the keys named) the value the config
// file last gave it, as a reload would have, had the file changed it:
// rolling the workers over when that changes how they start, scaling when
// it changes their number. The file is the one poold last loaded (what
// status NAME compares with), not re-read: reloadconfig reads it.
//
// Properties: name, keys (optional list: option names as in the file,
// "rlimits.nofile" for one entry of rlimits or hooks, "rlimits" for all of
// them), waiting. Reply: name, and reset, a row per key: key, from (the
// value it ran with), to (the file's), as JSON text like status NAME's
// overrides. Errors: an unknown watcher or option, errno 3; a named key
// that runs as the file gives it, or a watcher the file does not give
// (added by add), errno 5; nothing is changed then.

func init() {
	commands["reset"] = cmdReset
}

func cmdReset(a *Arbiter, m *cmdMsg) error {
	w, err := a.watcherProp(m)
	if err != nil {
		return err
	}
	keys, err := m.props().strings("keys")
	if err != nil {
		return err
	}
	filed, ok := a.filed[strings.ToLower(w.Name())]
	if !ok {
		return errorf(ErrnoFailed, "reset: watcher %q was added by the add command, not by the config file (%s): there is no file value to go back to (nothing was changed); "+
			"set its keys with poolctl set %s KEY VALUE, or add it to the file and reloadconfig", w.Name(), a.cfg.Path, w.Name())
	}
	chosen, err := chooseResets(w.Name(), a.overrides(w), keys)
	if err != nil {
		return err
	}
	rows := resetRows(chosen)
	fields := func() map[string]any { return map[string]any{"name": w.Name(), "reset": rows} }
	if len(chosen) == 0 {
		m.ok(fields()) // nothing runs otherwise than the file: done, as systemctl revert
		return nil
	}
	base := w.Spec()
	base.NumProcesses = w.Configured() // an elastic pool's, as overrides compares
	opts := resetOptions(configs.WatcherOptions(filed), configs.WatcherOptions(base), chosen)
	spec, err := configs.ApplyOptions(base, opts, a.cfg.Sockets)
	if err != nil {
		return errorf(ErrnoFailed, "reset: the config file's values no longer apply: %v (nothing was changed); fix the file and reloadconfig", err)
	}
	socks, err := a.checkSet("reset", w.Name(), base, spec)
	if err != nil {
		return err
	}
	if _, err := spec.Credential(); err != nil {
		return errorf(ErrnoFailed, "reset: watcher %q: %v (nothing was changed)", w.Name(), err)
	}
	if err := w.Update(spec, socks); err != nil {
		return errorf(ErrnoFailed, "reset: %v", err)
	}
	if _, ok := opts["numprocesses"]; ok && spec.Elastic() && w.Status() != watcher.Stopped {
		w.SetTarget(spec.NumProcesses)
	}
	a.pruneOrigins(w, a.overrides(w))
	a.log.Info("watcher reset to the config file", "watcher", w.Name(), "keys", resetSummary(chosen))
	var undone func() string
	if wait, _ := m.props().boolean("waiting", false); wait {
		undone = resetUndone(w, opts, base, spec)
	}
	return a.finishChecked(m, []*watcher.Watcher{w}, fields, undone)
}

// chooseResets picks from list (w's overrides) the ones keys names, all
// of them for no keys. A key names an option ("max_cpu"), all entries of
// a map option ("rlimits"), or one entry ("rlimits.nofile"). An unknown
// option is errno 3; a key with no override, errno 5.
func chooseResets(name string, list []override, keys []string) ([]override, error) {
	if len(keys) == 0 {
		return list, nil
	}
	known := configs.WatcherOptionKeys()
	var out []override
	for _, k := range keys {
		k = strings.ToLower(strings.TrimSpace(k))
		top, sub, entry := strings.Cut(k, ".")
		if !slices.Contains(known, top) || (entry && !mapKeys[top]) {
			return nil, errorf(ErrnoBadProperty, "reset: watcher %q has no option %q (nothing was changed); options are: %s; an entry of rlimits or hooks is KEY.ENTRY (rlimits.nofile)",
				name, k, strings.Join(known, ", "))
		}
		if entries := mapEntries(top); entry && !slices.Contains(entries, sub) {
			return nil, errorf(ErrnoBadProperty, "reset: watcher %q: %s has no entry %q (nothing was changed); its entries are: %s, as %s.ENTRY",
				name, top, sub, strings.Join(entries, ", "), top)
		}
		found := false
		for _, o := range list {
			if o.Key == k || (!entry && strings.HasPrefix(o.Key, k+".")) {
				found = true
				if !slices.ContainsFunc(out, func(c override) bool { return c.Key == o.Key }) {
					out = append(out, o)
				}
			}
		}
		if !found {
			return nil, errorf(ErrnoFailed, "reset: watcher %q: %s runs as the config file gives it, nothing to reset (nothing was changed); %s",
				name, k, setAtRunTime(name, list))
		}
	}
	slices.SortFunc(out, func(x, y override) int { return strings.Compare(x.Key, y.Key) })
	return out, nil
}

// setAtRunTime words which keys of watcher name run otherwise than the
// file (list), for an error.
func setAtRunTime(name string, list []override) string {
	if len(list) == 0 {
		return fmt.Sprintf("no key of %s is set at run time", name)
	}
	keys := make([]string, len(list))
	for i, o := range list {
		keys[i] = o.Key
	}
	return fmt.Sprintf("set at run time: %s (poolctl status %s shows them; poolctl reset %s resets them all)", strings.Join(keys, ", "), name, name)
}

// resetOptions are the options, in wire form, that give the keys of
// chosen the file's values (file), now being the options in force: a map
// option whole, with the chosen entries as the file has them (or gone).
func resetOptions(file, now map[string]any, chosen []override) map[string]any {
	opts := map[string]any{}
	for _, o := range chosen {
		top, entry, isEntry := strings.Cut(o.Key, ".")
		if !isEntry || !mapKeys[top] {
			opts[o.Key] = file[o.Key]
			continue
		}
		m, ok := opts[top].(map[string]any)
		if !ok {
			cur, _ := now[top].(map[string]any)
			m = maps.Clone(cur)
			if m == nil {
				m = map[string]any{}
			}
			opts[top] = m
		}
		fm, _ := file[top].(map[string]any)
		if fv, ok := fm[entry]; ok {
			m[entry] = fv
		} else {
			delete(m, entry)
		}
	}
	return opts
}

// resetRows is the reply's reset: key, from (the value in force) and to
// (the file's), as JSON text.
func resetRows(chosen []override) []map[string]any {
	rows := make([]map[string]any, 0, len(chosen))
	for _, o := range chosen {
		rows = append(rows, map[string]any{"key": o.Key, "from": o.Value, "to": o.File})
	}
	return rows
}

// resetSummary is chosen for the log: "max_cpu=40->0", env's values left
// out (they may be secrets), as set's.
func resetSummary(chosen []override) string {
	parts := make([]string, len(chosen))
	for i, o := range chosen {
		if o.Key == "env" {
			parts[i] = "env=(not logged)"
			continue
		}
		parts[i] = o.Key + "=" + o.Value + "->" + o.File
	}
	return strings.Join(parts, " ")
}

// resetUndone words, for a waited reset once w settled, what another
// command changed again of what it reset (from base to spec) before it
// was done: another size (resizedSince), or another value of a key whose
// change rolled the workers over (supersededSince). "" when none.
func resetUndone(w *watcher.Watcher, opts map[string]any, base, spec configs.Watcher) func() string {
	superseded := supersededSince("reset", w, opts, base, spec)
	var sizes []int
	if _, ok := opts["numprocesses"]; ok {
		sizes = []int{w.Target()}
	}
	return func() string {
		why := resizedSince("reset", []*watcher.Watcher{w}, sizes)
		if superseded != nil {
			why = joinWhy(why, superseded())
		}
		return why
	}
}

// mapEntries are the entries a map option (mapKeys) may have.
func mapEntries(option string) []string {
	if option == "hooks" {
		return configs.HookNames
	}
	return configs.RlimitNames()
}
