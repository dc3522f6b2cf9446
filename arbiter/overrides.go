package arbiter

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher"
)

// A reload keeps run-time changes (set, incr, decr) of the keys the file
// left alone (reload.go, fromFile). So putting an old file back does not
// undo a `set web max_cpu 40` of hours ago, and nothing else shows what
// runs otherwise than the file says: status NAME lists those keys
// (override), every config reload logs the ones it kept, and reset gives
// them the file's values (reset.go).

// override is a key whose value in force differs from the one the
// config file last gave: Key as the file names it ("max_cpu",
// "rlimits.nofile", "hooks.after_spawn"), Value and File as JSON
// ("none" for a map entry one side lacks), and, when poold saw the
// command that set it, when, which command and who sent it.
type override struct {
	Key, Value, File string
	origin
}

// origin is the last command that changed a key of a watcher.
type origin struct {
	At      time.Time
	Command string // "set", "incr", "decr"
	By      string // the caller, "" for poold's own
}

// mapKeys are the options whose entries are keys of their own, as a
// reload merges them (watcher.Merge).
var mapKeys = map[string]bool{"rlimits": true, "hooks": true}

// overrides lists the keys of w that run otherwise than the file last
// gave them, sorted; none for a watcher the file never gave (added with
// the add command). An elastic pool's size in force is poold's, not a
// run-time change: its configured numprocesses counts, as at a reload.
func (a *Arbiter) overrides(w *watcher.Watcher) []override {
	filed, ok := a.filed[strings.ToLower(w.Name())]
	if !ok || a.holding[w] {
		return nil // a held update's old spec is no run-time value
	}
	running := w.Spec()
	running.NumProcesses = w.Configured()
	out := keyDiffs(configs.WatcherOptions(filed), configs.WatcherOptions(running))
	for i := range out {
		out[i].origin = a.origins[w][out[i].Key]
	}
	return out
}

// keyDiffs compares two watchers' options (configs.WatcherOptions) key
// by key, the entries of mapKeys one by one: file's values against
// now's, sorted by key.
func keyDiffs(file, now map[string]any) []override {
	var out []override
	for _, k := range slices.Sorted(maps.Keys(now)) {
		fv, nv := file[k], now[k]
		if reflect.DeepEqual(fv, nv) {
			continue
		}
		fm, fok := fv.(map[string]any)
		nm, nok := nv.(map[string]any)
		if !mapKeys[k] || !fok || !nok {
			out = append(out, override{Key: k, Value: wireText(nv), File: wireText(fv)})
			continue
		}
		entries := maps.Clone(nm)
		maps.Copy(entries, fm)
		for _, e := range slices.Sorted(maps.Keys(entries)) {
			fe, fin := fm[e]
			ne, nin := nm[e]
			if fin == nin && reflect.DeepEqual(fe, ne) {
				continue
			}
			o := override{Key: k + "." + e, Value: "none", File: "none"}
			if nin {
				o.Value = wireText(ne)
			}
			if fin {
				o.File = wireText(fe)
			}
			out = append(out, o)
		}
	}
	return out
}

// wireText is v as compact JSON: 40, "stderr", ["A=1"], for people to
// read (status, the reload's log line): without the HTML escapes that
// would show a shell command's ">>" as "\u003e\u003e".
func wireText(v any) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// noteOrigin records that m (set, incr, decr) changed w's keys from
// before to w's spec now, for status NAME. Keys it left as they were
// keep the origin they had.
func (a *Arbiter) noteOrigin(m *cmdMsg, w *watcher.Watcher, before configs.Watcher) {
	after := w.Spec()
	after.NumProcesses = w.Configured()
	changed := keyDiffs(configs.WatcherOptions(before), configs.WatcherOptions(after))
	if len(changed) == 0 {
		return
	}
	o := origin{At: time.Now(), Command: strings.ToLower(m.req.Command)}
	if m.who != nil {
		o.By = m.who()
	}
	if a.origins == nil {
		a.origins = map[*watcher.Watcher]map[string]origin{}
	}
	if a.origins[w] == nil {
		a.origins[w] = map[string]origin{}
	}
	for _, c := range changed {
		a.origins[w][c.Key] = o
	}
}

// overrideRows is the wire form of overrides, for the status reply.
// withhold hides env's values (a read-only caller).
func overrideRows(list []override, withhold bool) []map[string]any {
	out := make([]map[string]any, 0, len(list))
	for _, o := range list {
		row := map[string]any{"key": o.Key, "value": o.Value, "file": o.File}
		if withhold && o.Key == "env" {
			row["value"], row["file"] = Withheld, Withheld
		}
		if !o.At.IsZero() {
			row["set_at"] = float64(o.At.UnixNano()) / 1e9
			row["set_by"] = o.Command
			if o.By != "" {
				row["set_by"] = o.Command + " from " + o.By
			}
		}
		out = append(out, row)
	}
	return out
}

// logKept logs, after a config reload, the keys of each watcher that it
// kept from run time where the file says otherwise, so that the log
// tells why a restored file did not restore what runs, and returns them
// by watcher ("max_cpu=40"), for the reply. env's values are not logged
// (they may be secrets), as with set's.
func (a *Arbiter) logKept() map[string][]string {
	var kept []string
	byWatcher := map[string][]string{}
	for _, key := range slices.Sorted(maps.Keys(a.watchers)) {
		w := a.watchers[key]
		if a.leaving[w] {
			continue
		}
		list := a.overrides(w)
		a.pruneOrigins(w, list)
		for _, o := range list {
			v := o.Value
			if o.Key == "env" {
				v = "(not logged)"
			}
			kept = append(kept, fmt.Sprintf("%s.%s=%s", w.Name(), o.Key, v))
			byWatcher[w.Name()] = append(byWatcher[w.Name()], o.Key+"="+v)
		}
	}
	if len(kept) > 0 {
		a.log.Info("config reload: kept from run time, not in the file (poolctl status NAME shows them; poolctl reset NAME [KEY...] gives them the file's values)",
			"kept", strings.Join(kept, " "))
	}
	return byWatcher
}

// pruneOrigins forgets the origins of w's keys that no longer differ
// from the file (list): a reload gave them the file's value.
func (a *Arbiter) pruneOrigins(w *watcher.Watcher, list []override) {
	m := a.origins[w]
	if m == nil {
		return
	}
	for k := range m {
		if !slices.ContainsFunc(list, func(o override) bool { return o.Key == k }) {
			delete(m, k)
		}
	}
	if len(m) == 0 {
		delete(a.origins, w)
	}
}
