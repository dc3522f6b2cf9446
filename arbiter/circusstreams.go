package arbiter

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/configs/circusstream"
)

// circusStreams maps, in place, Circus's stream options as circusd's add
// and set take them onto poold's worker log keys, as the circus.ini
// translator maps stdout_stream.* and stderr_stream.* (circusstream.Map):
//
//	stdout_stream {"class": ..., "filename": ..., ...}   (add)
//	stdout_stream.class, stdout_stream.filename, ...     (set, circusctl)
//
// (stderr_stream likewise). What poold cannot honour (a Python stream
// class, rotate_when S or W0, rotate_interval, utc) is refused, saying
// what poold does instead, where the translator warns. base is the
// watcher the options apply to: a set of one stream option keeps the
// file its stream already writes to.
func circusStreams(out map[string]any, base configs.Watcher) error {
	logs := map[string]any{} // poold keys the streams set, with the stream that set each
	setBy := map[string]string{}
	for _, stream := range []string{"stdout_stream", "stderr_stream"} {
		conf, err := streamConf(out, stream)
		if err != nil {
			return err
		}
		if conf == nil {
			continue
		}
		sink := base.Logs.Stdout
		if stream == "stderr_stream" {
			sink = base.Logs.Stderr
		}
		keys, err := streamKeys(stream, conf, base, sink)
		if err != nil {
			return err
		}
		for _, k := range slices.Sorted(maps.Keys(keys)) {
			if old, ok := logs[k]; ok && !reflect.DeepEqual(old, keys[k]) {
				return fmt.Errorf("%s and %s give %s different values (%v, %v); poold has one %s per watcher: give it once", setBy[k], stream, k, old, keys[k], k)
			}
			logs[k], setBy[k] = keys[k], stream
		}
	}
	for k, v := range logs {
		if _, both := out[k]; both {
			return fmt.Errorf("%s sets %s, which the options also give; give one of them", setBy[k], k)
		}
		out[k] = v
	}
	return nil
}

// streamConf takes out's options for one stream (the object add gives,
// or the dotted keys set gives) out of it; nil when there are none.
func streamConf(out map[string]any, stream string) (map[string]any, error) {
	var conf map[string]any
	if v, ok := out[stream]; ok {
		m, isMap := v.(map[string]any)
		if !isMap {
			return nil, fmt.Errorf("%s: must be an object such as {\"class\": \"FileStream\", \"filename\": \"/var/log/web.log\"}, got %v", stream, v)
		}
		conf = maps.Clone(m)
		delete(out, stream)
	}
	for k, v := range out {
		opt, ok := strings.CutPrefix(k, stream+".")
		if !ok {
			continue
		}
		if conf == nil {
			conf = map[string]any{}
		}
		if _, dup := conf[opt]; dup {
			return nil, fmt.Errorf("%s.%s is given twice (in %s and on its own); give it once", stream, opt, stream)
		}
		conf[opt] = v
		delete(out, k)
	}
	return conf, nil
}

// streamKeys maps one stream's Circus options onto poold's log keys
// (circusstream.Map); what poold would not honour is refused. sink and
// keep are where the stream goes now and how many rotated files it keeps
// (for options given without a class, filename or backup_count).
func streamKeys(stream string, conf map[string]any, base configs.Watcher, sink string) (map[string]any, error) {
	opts := make(map[string]string, len(conf))
	for k, v := range conf {
		s, err := optString(stream, k, v)
		if err != nil {
			return nil, err
		}
		opts[k] = s
	}
	keys, notes := circusstream.Map(stream, opts, circusstream.Now{Watcher: base.Name, Sink: sink, Keep: base.Logs.Keep})
	for _, n := range notes {
		if n.Lost {
			return nil, fmt.Errorf("%s: %s", n.Opt, n.Msg)
		}
	}
	return keys, nil
}

// optString is one option's value as circus.ini would give it: a JSON
// number as written (1048576, not 1.048576e+06); class must be a string.
func optString(stream, opt string, v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case int:
		return strconv.Itoa(x), nil
	case bool:
		return strconv.FormatBool(x), nil
	}
	if opt == "class" {
		return "", fmt.Errorf("%s.class: must be a string such as \"FileStream\", got %v", stream, v)
	}
	return "", fmt.Errorf("%s.%s: must be a string or a number, got %v", stream, opt, v)
}
