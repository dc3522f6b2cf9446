package configs

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
)

// WatcherOptionKeys returns the option names of a watcher, sorted: the
// keys of a [watchers.NAME] section, used by the add, get, set and
// options commands.
func WatcherOptionKeys() []string { return fieldKeys(watcherFields) }

// WatcherOptions renders every option of w in wire form, keyed like the
// config file: durations as seconds (float64), stop_signal as a name
// ("TERM"), umask as an octal string ("022", "" = inherit), env, args,
// sockets and depends_on as lists, rlimits as name -> number or
// "unlimited", max_rss as a number of bytes (uint64), max_cpu as a
// percentage of one core (float64).
func WatcherOptions(w Watcher) map[string]any {
	out := make(map[string]any, len(watcherFields))
	for _, f := range watcherFields {
		out[f.key] = f.wire(&w)
	}
	return out
}

// WatcherFromOptions builds a watcher for the add command: defaults, then
// opts (values as decoded from JSON: float64, string, bool, []any,
// map[string]any; env may also be an object), then cmd when not empty
// (args go in opts["args"]). It is decoded and validated exactly like a
// [watchers.NAME] section against sockets; every problem is reported in
// one *Error whose keys are option names. Its rlimits must also be ones
// a worker can be given on this machine (RlimitProblem): for a file that
// is a machine check at --check and reload, which poold starts despite.
func WatcherFromOptions(name, cmd string, opts map[string]any, sockets []Socket) (Watcher, error) {
	ps := &problems{}
	d := &decoder{ps: ps}
	if !nameRE.MatchString(name) {
		ps.add("name", "bad watcher name %q: %s", name, nameRule)
	}
	w := DefaultWatcher(name)
	if cmd != "" {
		if opts == nil {
			opts = map[string]any{}
		}
		opts = maps.Clone(opts)
		opts["cmd"] = cmd
	}
	decodeSection(d, "", anyMap(opts), watcherFields, &w)
	validateWatcher(ps, "", &w, socketSet(sockets))
	validateWorkingDir(ps, "working_dir", &w)
	validateCredential(ps, optionKey, &w)
	checkProbeTargets(ps, optionKey, &w, sockets)
	checkRlimits(ps, optionKey, &w)
	if err := ps.errWatcher(name); err != nil {
		return Watcher{}, err
	}
	return w, nil
}

// ApplyOptions returns a copy of w with opts applied (the set command).
// Only known keys are accepted; the result is validated as a whole. On
// error w is returned unchanged with an *Error naming each bad option.
// New rlimits must be ones a worker can be given (RlimitProblem).
func ApplyOptions(w Watcher, opts map[string]any, sockets []Socket) (Watcher, error) {
	ps := &problems{}
	d := &decoder{ps: ps}
	nw := w.Clone()
	decodeSection(d, "", anyMap(opts), watcherFields, &nw)
	validateWatcher(ps, "", &nw, socketSet(sockets))
	if _, ok := opts["working_dir"]; ok || nw.Chroot != w.Chroot {
		validateWorkingDir(ps, "working_dir", &nw) // only when set moves it
	}
	_, uid := opts["uid"]
	_, gid := opts["gid"]
	if uid || gid {
		validateCredential(ps, optionKey, &nw) // only when set gives them
	}
	checkProbeTargets(ps, optionKey, &nw, sockets)
	if _, ok := opts["rlimits"]; ok {
		checkRlimits(ps, optionKey, &nw)
	}
	if err := ps.errWatcher(w.Name); err != nil {
		return w, err
	}
	return nw, nil
}

// Clone returns a deep copy of w (slices and the rlimits map are not
// shared).
func (w Watcher) Clone() Watcher {
	w.Args = slices.Clone(w.Args)
	w.Env = slices.Clone(w.Env)
	w.Sockets = slices.Clone(w.Sockets)
	w.Rlimits = maps.Clone(w.Rlimits)
	w.DependsOn = slices.Clone(w.DependsOn)
	w.Hooks = maps.Clone(w.Hooks)
	if w.Nice != nil {
		n := *w.Nice
		w.Nice = &n
	}
	if w.OOMScoreAdj != nil {
		n := *w.OOMScoreAdj
		w.OOMScoreAdj = &n
	}
	return w
}

// CheckDependsOn checks the depends_on of a whole set of watchers, as the
// arbiter holds them after an add or set: every entry names a watcher of
// ws (case-insensitively) and there is no cycle. WatcherFromOptions and
// ApplyOptions see one watcher only, so they check just that it does not
// name itself. Problems come back in one *Error, keyed
// "watchers.NAME.depends_on".
func CheckDependsOn(ws []Watcher) error {
	ps := &problems{}
	checkDependsOn(ps, ws, nil, func(name string) string { return "watchers." + name + ".depends_on" })
	return ps.err("")
}

// anyMap keeps a nil options map from reading as "not a table".
func anyMap(m map[string]any) any {
	if m == nil {
		return nil
	}
	return m
}

func socketSet(sockets []Socket) map[string]bool {
	set := make(map[string]bool, len(sockets))
	for _, s := range sockets {
		set[strings.ToLower(s.Name)] = true
	}
	return set
}

// optionKey is the key path of a run-time option: the option name.
func optionKey(key string) string { return key }

// CheckMerged validates w, a watcher's section of file with the run-time
// changes (set, incr) of keys the file left alone kept, as a reload would
// run it: each key is valid on its own, but a key the file changed may
// no longer go with one set at run time (backoff_min from the file over
// a backoff_max set at run time, singleton beside a run-time
// numprocesses 3). filed is the file's own section: the problems name the
// keys whose run-time values differ from it and say what to do.
func CheckMerged(file string, w, filed Watcher, sockets []Socket) error {
	ps := &problems{}
	validateWatcher(ps, "watchers."+w.Name, &w, socketSet(sockets))
	if len(ps.list) == 0 {
		return nil
	}
	got, want := WatcherOptions(w), WatcherOptions(filed)
	var kept []string
	for _, key := range WatcherOptionKeys() {
		if !reflect.DeepEqual(got[key], want[key]) {
			kept = append(kept, fmt.Sprintf("%s = %s", key, describeOption(got[key])))
		}
	}
	for i := range ps.list {
		ps.list[i].Msg += fmt.Sprintf(" (with the run-time changes of watcher %q kept: %s; the file's change clashes with one of them: change that one with poolctl set, or the file so that it fits, then reload)", w.Name, strings.Join(kept, ", "))
	}
	return ps.err(file)
}

// describeOption renders a wire value as JSON, as poolctl set takes it.
func describeOption(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
