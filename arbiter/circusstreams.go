package arbiter

import (
	"fmt"
	"maps"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/poold/poold/configs"
)

// circusStreams maps, in place, Circus's stream options as circusd's add
// and set take them onto poold's worker log keys, the way the circus.ini
// translator maps stdout_stream.* and stderr_stream.*:
//
//	stdout_stream {"class": ..., "filename": ..., ...}   (add)
//	stdout_stream.class, stdout_stream.filename, ...     (set, circusctl)
//
// (stderr_stream likewise). class StdoutStream or FancyStdoutStream is
// stdout_log = "stderr" (poold's own log); FileStream,
// TimedRotatingFileStream and WatchedFileStream (or a filename without a
// class, as Circus takes it) a file; max_bytes (with a backup_count, as
// Circus rotates only then) log_max_size, backup_count log_keep,
// rotate_when H, D or MIDNIGHT log_rotate, time_format log_timestamps.
// What poold cannot honour (a Python stream class, rotate_when S or W0,
// rotate_interval, utc) is refused, saying what poold does instead.
// base is the watcher the options apply to: a set of one stream option
// keeps the file its stream already writes to.
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
		keys, err := streamKeys(stream, conf, sink, base.Logs.Keep)
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

// streamKeys maps one stream's Circus options onto poold's log keys.
// sink and keep are where the stream goes now and how many rotated files
// it keeps (for options given without a class, filename or backup_count).
func streamKeys(stream string, conf map[string]any, sink string, keep int) (map[string]any, error) {
	sinkKey := strings.TrimSuffix(stream, "_stream") + "_log"
	keys := map[string]any{}
	cls := "FileStream" // Circus's class for a filename without one
	if _, ok := conf["rotate_when"]; ok {
		cls = "TimedRotatingFileStream" // a set of rotate_when alone
	}
	if v, ok := conf["class"]; ok {
		s, isStr := v.(string)
		if !isStr {
			return nil, fmt.Errorf("%s.class: must be a string such as \"FileStream\", got %v", stream, v)
		}
		cls = strings.TrimPrefix(strings.TrimSpace(s), "circus.stream.")
	} else if _, ok := conf["filename"]; !ok && !configs.IsLogFile(sink) {
		return nil, fmt.Errorf("%s: give a class or a filename (the watcher's %s is %q, not a file)", stream, sinkKey, sink)
	}
	done := map[string]bool{"class": true}
	switch cls {
	case "StdoutStream", "FancyStdoutStream":
		keys[sinkKey] = configs.LogToStderr
		done["color"], done["time_format"] = true, true // poold's log carries its own time, no colours
	case "FileStream", "TimedRotatingFileStream", "WatchedFileStream":
		if err := fileStreamKeys(stream, sinkKey, cls, conf, sink, keep, keys, done); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%s.class: %s is a Python stream class, which poold cannot run; poold writes to a file (FileStream, with filename), to its own log (StdoutStream) or nowhere (%s \"none\")", stream, cls, sinkKey)
	}
	for _, opt := range slices.Sorted(maps.Keys(conf)) {
		if !done[opt] {
			return nil, fmt.Errorf("%s.%s: no poold equivalent for this %s option; leave it out", stream, opt, cls)
		}
	}
	return keys, nil
}

// fileStreamKeys maps the options of Circus's three file stream classes.
func fileStreamKeys(stream, sinkKey, cls string, conf map[string]any, sink string, keep int, keys map[string]any, done map[string]bool) error {
	opt := func(o string) (string, bool) {
		done[o] = true
		v, ok := conf[o]
		if !ok || v == nil {
			return "", false
		}
		if f, isNum := v.(float64); isNum { // a JSON number: 1048576, not 1.048576e+06
			return strconv.FormatFloat(f, 'f', -1, 64), true
		}
		return strings.TrimSpace(fmt.Sprint(v)), true
	}
	if fn, ok := opt("filename"); ok && fn != "" {
		// circusd opens a relative filename from its working directory.
		abs, err := filepath.Abs(fn)
		if err != nil {
			return fmt.Errorf("%s.filename: %w", stream, err)
		}
		keys[sinkKey] = abs
	} else if !configs.IsLogFile(sink) {
		return fmt.Errorf("%s.filename: %s needs a file (circusd would write to a new temporary file); give its path", stream, cls)
	}
	if _, ok := opt("time_format"); ok {
		keys["log_timestamps"] = true // an RFC 3339 UTC time, not the strftime format
	}
	if cls == "WatchedFileStream" {
		opt("refresh_time") // poold reopens on `poolctl reopen` or SIGUSR1 instead
	}
	count, hasCount := opt("backup_count")
	n, err := streamInt(stream, "backup_count", count, hasCount)
	if err != nil {
		return err
	}
	if n > 0 {
		keys["log_keep"] = n
	} else if !hasCount {
		n = int64(keep) // set of max_bytes alone: the count the stream has
	}
	if size, ok := opt("max_bytes"); ok && cls != "WatchedFileStream" {
		m, err := streamInt(stream, "max_bytes", size, true)
		if err != nil {
			return err
		}
		if m > 0 && n > 0 { // without a backup_count Circus never rotates
			keys["log_max_size"] = m
		}
	}
	if cls == "TimedRotatingFileStream" {
		return rotateKeys(stream, opt, keys)
	}
	return nil
}

// rotateKeys maps TimedRotatingFileStream's rotate_when, rotate_interval
// and utc onto log_rotate.
func rotateKeys(stream string, opt func(string) (string, bool), keys map[string]any) error {
	if v, ok := opt("rotate_interval"); ok && v != "1" {
		return fmt.Errorf("%s.rotate_interval: poold rotates every hour or every day (rotate_when H or D), not every %s units; leave rotate_interval out", stream, v)
	}
	if v, ok := opt("utc"); ok {
		if utc, err := strconv.ParseBool(v); err != nil || utc {
			return fmt.Errorf("%s.utc: poold rotates daily files at local midnight, not UTC midnight; leave utc out", stream)
		}
	}
	when, _ := opt("rotate_when")
	switch strings.ToUpper(when) {
	case "H":
		keys["log_rotate"] = "hourly"
	case "D", "MIDNIGHT":
		keys["log_rotate"] = "daily"
	default:
		return fmt.Errorf("%s.rotate_when: %q: poold rotates hourly (H) or daily (D, MIDNIGHT) only", stream, when)
	}
	return nil
}

// streamInt reads a count Circus takes as a number or a numeric string.
func streamInt(stream, opt, v string, given bool) (int64, error) {
	if !given || v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s.%s: must be a whole number >= 0, got %q", stream, opt, v)
	}
	return n, nil
}
