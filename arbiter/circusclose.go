package arbiter

import (
	"github.com/poold/poold/watcher"
)

// Circus's close_child_stdout and close_child_stderr in a set: circusd's
// set_opt takes them and changes nothing while the watcher runs; they
// apply only to a watcher it creates, as poold's add and config file
// apply them (the "none" sink, circusCloseChild). A set of true once
// discarded a running watcher's log file, and false did not bring it
// back.

// closeChildKeys are the Circus options a set takes and does nothing
// with at run time.
var closeChildKeys = [...]string{"close_child_stdout", "close_child_stderr"}

// takeCloseChild takes close_child_stdout and close_child_stderr out of
// a set's opts and returns their values (nil when there are none).
func takeCloseChild(opts map[string]any) (map[string]bool, error) {
	var out map[string]bool
	for _, key := range closeChildKeys {
		v, ok := opts[key]
		if !ok {
			continue
		}
		b, err := circusBool(key, v)
		if err != nil {
			return nil, err
		}
		delete(opts, key)
		if out == nil {
			out = map[string]bool{}
		}
		out[key] = b
	}
	return out, nil
}

// noteCloseChild keeps what a set gave w of them, for get, and logs that
// they change nothing now. Call it once the set has succeeded.
func (a *Arbiter) noteCloseChild(w *watcher.Watcher, given map[string]bool) {
	if len(given) == 0 {
		return
	}
	if a.closeChild == nil {
		a.closeChild = map[*watcher.Watcher]map[string]bool{}
	}
	if a.closeChild[w] == nil {
		a.closeChild[w] = map[string]bool{}
	}
	for _, key := range closeChildKeys {
		b, ok := given[key]
		if !ok {
			continue
		}
		a.closeChild[w][key] = b
		stream, sink := "stdout", w.Spec().Logs.Stdout
		if key == "close_child_stderr" {
			stream, sink = "stderr", w.Spec().Logs.Stderr
		}
		a.log.Info("set "+key+" changes nothing while the watcher runs, as in circusd: poold keeps reading the workers' "+stream+
			" into its log; the option takes effect where the watcher is created (add, or close_child_"+stream+" in a circus.ini), and "+
			stream+"_log chooses the sink", "watcher", w.Name(), "value", b, stream+"_log", sink)
	}
}

// closeChildGot answers get for key when a set gave it to w.
func (a *Arbiter) closeChildGot(w *watcher.Watcher, key string) (bool, bool) {
	b, ok := a.closeChild[w][key]
	return b, ok
}
