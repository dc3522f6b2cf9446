package circusini

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/poold/poold/configs"
)

// A watcher's stdout_stream.* and stderr_stream.* options map onto
// poold's worker log keys (stdout_log, stderr_log, log_*). The rotation
// keys are per watcher in poold and per stream in Circus: when the two
// streams disagree, stdout's value stays and the other is a warning.

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

// streams maps the recorded stream options, stdout first.
func (t *translator) streams(w *wdraft) {
	for _, name := range []string{"stdout_stream", "stderr_stream"} {
		if opts := w.streams[name]; opts != nil {
			t.stream(w, name, opts)
		}
	}
}

// stream maps one stream: its class (FileStream when only a filename is
// given, as Circus does) picks the sink; the other options are handled
// by class.
func (t *translator) stream(w *wdraft, name string, opts map[string]string) {
	sinkKey := strings.TrimSuffix(name, "_stream") + "_log"
	classKey := name + ".class"
	cls, hasClass := opts["class"]
	if !hasClass {
		classKey = name + ".filename"
		if _, ok := opts["filename"]; !ok {
			t.warn(w.out, w.sec, name+"."+slices.Sorted(maps.Keys(opts))[0], "Circus refuses a stream without class or filename (\"stream configuration invalid\"); left out")
			return
		}
		cls = "FileStream"
	}
	cls = strings.TrimPrefix(cls, "circus.stream.")
	done := map[string]bool{"class": true}
	switch cls {
	case "StdoutStream", "FancyStdoutStream":
		w.out.Set(sinkKey, configs.LogToStderr)
		t.info(w.out, w.sec, classKey, "poold writes worker output to its own stderr, one line each, tagged with watcher, wid, pid and stream")
		if cls == "FancyStdoutStream" {
			t.info(w.out, w.sec, classKey, "no colours: poold's log is plain text (or JSON)")
			done["color"] = true
		}
		if _, ok := opts["time_format"]; ok {
			t.info(w.out, w.sec, name+".time_format", "poold's own log always carries its time; time_format is dropped")
			done["time_format"] = true
		}
	case "FileStream", "TimedRotatingFileStream", "WatchedFileStream":
		if !t.fileStream(w, name, sinkKey, classKey, cls, opts, done) {
			return
		}
	default:
		t.warn(w.out, w.sec, classKey, fmt.Sprintf("%s is a Python stream class, which poold cannot run; poold writes to a file (FileStream), its own stderr (StdoutStream) or nowhere (%s = \"none\")", cls, sinkKey))
		return
	}
	for _, opt := range slices.Sorted(maps.Keys(opts)) {
		if !done[opt] {
			t.warn(w.out, w.sec, name+"."+opt, fmt.Sprintf("no poold equivalent for this %s option", cls))
		}
	}
}

// fileStream maps the three file classes; false when there is no file.
func (t *translator) fileStream(w *wdraft, name, sinkKey, classKey, cls string, opts map[string]string, done map[string]bool) bool {
	fn, ok := opts["filename"]
	done["filename"] = true
	if !ok || fn == "" {
		t.warn(w.out, w.sec, classKey, "no filename: Circus writes to a new temporary file; give "+name+".filename")
		return false
	}
	w.out.Set(sinkKey, t.logPath(w, name+".filename", fn))
	key := func(opt string) string { return name + "." + opt }
	if v, ok := opts["time_format"]; ok {
		done["time_format"] = true
		t.setShared(w, key("time_format"), "log_timestamps", true)
		t.info(w.out, w.sec, key("time_format"), fmt.Sprintf("mapped to log_timestamps = true: poold writes an RFC 3339 UTC time with microseconds and a space before each line, not %q followed by \" [pid] | \"", v))
	}
	if v, ok := opts["backup_count"]; ok {
		done["backup_count"] = true
		if n := toInt(v); n != int64(0) {
			t.setShared(w, key("backup_count"), "log_keep", n)
		}
	}
	switch cls {
	case "FileStream":
		t.maxBytes(w, key, opts, done)
	case "TimedRotatingFileStream":
		t.maxBytes(w, key, opts, done)
		t.rotateWhen(w, key, opts, done)
	case "WatchedFileStream":
		t.info(w.out, w.sec, classKey, "poold does not watch the file: after moving it away (logrotate without copytruncate), run `poolctl reopen "+w.name+"` or send poold SIGUSR1 (in logrotate's postrotate) and poold reopens it")
	}
	return true
}

// maxBytes maps max_bytes; Circus rotates by size only with a
// backup_count (without one it reopens the same file, which grows on).
func (t *translator) maxBytes(w *wdraft, key func(string) string, opts map[string]string, done map[string]bool) {
	v, ok := opts["max_bytes"]
	if !ok {
		return
	}
	done["max_bytes"] = true
	n, err := strconv.ParseInt(v, 10, 64)
	switch {
	case err != nil || n < 0:
		t.warn(w.out, w.sec, key("max_bytes"), fmt.Sprintf("%q is not a number of bytes; left out", v))
	case n == 0:
	case toInt(opts["backup_count"]) == int64(0) || opts["backup_count"] == "":
		t.info(w.out, w.sec, key("max_bytes"), "without backup_count Circus never rotates (the file grows on); log_max_size left out")
	default:
		t.setShared(w, key("max_bytes"), "log_max_size", n)
	}
}

// rotateWhen maps TimedRotatingFileStream's rotate_when, rotate_interval
// and utc onto log_rotate.
func (t *translator) rotateWhen(w *wdraft, key func(string) string, opts map[string]string, done map[string]bool) {
	for _, o := range []string{"rotate_when", "rotate_interval", "utc"} {
		done[o] = true
	}
	if v, ok := opts["rotate_interval"]; ok && toInt(v) != int64(1) {
		t.warn(w.out, w.sec, key("rotate_interval"), fmt.Sprintf("poold rotates every hour or every day, not every %s units; rotate_interval left out", v))
	}
	if b, _ := toBool(opts["utc"]); b == true {
		t.warn(w.out, w.sec, key("utc"), "poold rotates daily files at local midnight, not UTC midnight")
	}
	when, ok := opts["rotate_when"]
	if !ok {
		t.warn(w.out, w.sec, key("class"), "Circus refuses TimedRotatingFileStream without rotate_when; no time rotation")
		return
	}
	switch strings.ToUpper(when) {
	case "H":
		t.setShared(w, key("rotate_when"), "log_rotate", "hourly")
	case "D", "MIDNIGHT":
		t.setShared(w, key("rotate_when"), "log_rotate", "daily")
		if strings.ToUpper(when) == "D" {
			t.info(w.out, w.sec, key("rotate_when"), "D rotates 24 hours after the file was last written in Circus; poold's \"daily\" rotates at local midnight")
		}
	default:
		t.warn(w.out, w.sec, key("rotate_when"), fmt.Sprintf("%s: poold rotates hourly or daily only (log_rotate); left out", when))
	}
}

// setShared sets a per-watcher log key, warning when the other stream
// already set it to something else.
func (t *translator) setShared(w *wdraft, iniKey, key string, v any) {
	if old, ok := w.out.Get(key); ok && !reflect.DeepEqual(old, v) {
		t.warn(w.out, w.sec, iniKey, fmt.Sprintf("poold has one %s per watcher, already %v from the other stream; this value is left out", key, old))
		return
	}
	w.out.Set(key, v)
}

// logPath makes a stream's filename absolute. Circus opens a relative
// filename relative to circusd's working directory (it does not resolve
// it against the config file), so poold resolves it against its own.
func (t *translator) logPath(w *wdraft, key, fn string) string {
	if filepath.IsAbs(fn) {
		return fn
	}
	cwd, err := os.Getwd()
	if err != nil {
		cwd = "/"
	}
	abs := filepath.Join(cwd, fn)
	t.info(w.out, w.sec, key, fmt.Sprintf("relative: resolved against the working directory (%s) as circusd does; poold needs an absolute path", cwd))
	return abs
}
