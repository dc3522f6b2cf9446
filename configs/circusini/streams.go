package circusini

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/configs/circusstream"
)

// A watcher's stdout_stream.* and stderr_stream.* options map onto
// poold's worker log keys (circusstream.Map). The rotation keys are per
// watcher in poold and per stream in Circus: when the two streams
// disagree, stdout's value stays and the other is a warning.

// addStream records one stdout_stream.OPT or stderr_stream.OPT.
func (w *wdraft) addStream(k, v string) {
	name, opt, _ := strings.Cut(k, ".")
	if w.streams == nil {
		w.streams = map[string]map[string]string{}
	}
	if w.streams[name] == nil {
		w.streams[name] = map[string]string{}
	}
	w.streams[name][opt] = strings.TrimSpace(v)
}

// streams maps the recorded stream options, stdout first. What poold
// does not honour is a warning; the rest of the notes are information.
func (t *translator) streams(w *wdraft) {
	for _, name := range []string{"stdout_stream", "stderr_stream"} {
		opts := w.streams[name]
		if opts == nil {
			continue
		}
		keys, notes := circusstream.Map(name, opts, circusstream.Now{Watcher: w.name, Sink: configs.LogToStderr})
		for _, n := range notes {
			if n.Lost {
				t.warn(w.out, w.sec, n.Opt, n.Msg)
			} else {
				t.info(w.out, w.sec, n.Opt, n.Msg)
			}
		}
		sinkKey := strings.TrimSuffix(name, "_stream") + "_log"
		for _, k := range slices.Sorted(maps.Keys(keys)) {
			if k == sinkKey {
				w.out.Set(k, keys[k])
			} else {
				t.setShared(w, name, k, keys[k])
			}
		}
	}
}

// setShared sets a per-watcher log key, warning when the other stream
// already set it to something else.
func (t *translator) setShared(w *wdraft, stream, key string, v any) {
	if old, ok := w.out.Get(key); ok && !reflect.DeepEqual(old, v) {
		t.warn(w.out, w.sec, stream+"."+sharedOpt[key], fmt.Sprintf("poold has one %s per watcher, already %v from the other stream; this value is left out", key, old))
		return
	}
	w.out.Set(key, v)
}

// sharedOpt is the stream option each per-watcher log key comes from.
var sharedOpt = map[string]string{
	"log_keep": "backup_count", "log_max_size": "max_bytes", "log_rotate": "rotate_when", "log_timestamps": "time_format",
}

// closeChild maps close_child_stdout and close_child_stderr = true:
// circusd gives the worker /dev/null there, so nothing it writes is
// kept, whatever the stream says; poold's "none" sink discards it too.
func (t *translator) closeChild(w *wdraft) {
	for _, name := range []string{"stdout", "stderr"} {
		k := "close_child_" + name
		if b, _ := toBool(w.opts[k]); b != true {
			continue
		}
		w.out.Set(name+"_log", configs.LogToNone)
		t.info(w.out, w.sec, k, name+`_log = "none": the output is discarded, as circusd discards it (poold still keeps the last lines for poolctl logs; log_ring = 0 keeps none)`)
	}
}
