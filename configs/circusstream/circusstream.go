// Package circusstream maps Circus's stream options, stdout_stream.* and
// stderr_stream.*, onto poold's worker log keys. The circus.ini
// translator and the control socket's add and set share it: what poold
// cannot honour is a warning in a file, and a refusal on the wire.
package circusstream

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/poold/poold/configs"
)

// A Note is about one option, "stdout_stream.max_bytes".
type Note struct {
	Opt string
	Msg string
	// Lost: poold does not do what the option asks. The translator
	// warns, the control socket refuses.
	Lost bool
}

// Now is the watcher a stream belongs to, and what the stream does
// before its options apply: for a set of one option on a running
// watcher, the sink it writes to and the log_keep it has. A new
// watcher's stream writes to poold's log (Sink "stderr").
type Now struct {
	Watcher string
	Sink    string
	Keep    int
}

func (n Now) file() bool { return n.Sink != "" && configs.IsLogFile(n.Sink) }

// Map maps the options of one stream ("stdout_stream" or
// "stderr_stream"). keys are poold's keys to set: the stream's sink
// (stdout_log or stderr_log) and the per-watcher log_keep, log_max_size,
// log_rotate and log_timestamps; nil when poold leaves the whole stream
// out (a Python class, a file class without a file). The class is
// FileStream when only a filename is given, as in Circus; a set of
// rotation options alone applies to the file the stream already has.
func Map(stream string, opts map[string]string, now Now) (keys map[string]any, notes []Note) {
	m := &mapper{stream: stream, opts: opts, now: now, done: map[string]bool{"class": true}, keys: map[string]any{}}
	m.sinkKey = strings.TrimSuffix(stream, "_stream") + "_log"
	if !m.class() {
		return nil, m.notes
	}
	switch m.cls {
	case "StdoutStream", "FancyStdoutStream":
		m.stdout()
	case "FileStream", "TimedRotatingFileStream", "WatchedFileStream":
		if !m.fileStream() {
			return nil, m.notes
		}
	default:
		m.lost(m.classOpt, "%s is a Python stream class, which poold cannot run; poold writes to a file (FileStream, with a filename), to its own log (StdoutStream) or nowhere (%s \"none\")", m.cls, m.sinkKey)
		return nil, m.notes
	}
	for _, opt := range slices.Sorted(maps.Keys(opts)) {
		if !m.done[opt] {
			m.lost(stream+"."+opt, "no poold equivalent for this %s option; leave it out", m.cls)
		}
	}
	return m.keys, m.notes
}

type mapper struct {
	stream, sinkKey string
	opts            map[string]string
	now             Now
	cls, classOpt   string // the class, and the option that gave it
	done            map[string]bool
	keys            map[string]any
	notes           []Note
}

func (m *mapper) note(opt, format string, a ...any) {
	m.notes = append(m.notes, Note{Opt: opt, Msg: fmt.Sprintf(format, a...)})
}

func (m *mapper) lost(opt, format string, a ...any) {
	m.notes = append(m.notes, Note{Opt: opt, Msg: fmt.Sprintf(format, a...), Lost: true})
}

// opt marks o handled and returns its value, if given.
func (m *mapper) opt(o string) (string, bool) {
	m.done[o] = true
	v, ok := m.opts[o]
	return strings.TrimSpace(v), ok
}

// class finds the stream's class; false when there is none to find.
func (m *mapper) class() bool {
	m.classOpt = m.stream + ".class"
	if c, ok := m.opts["class"]; ok {
		m.cls = strings.TrimPrefix(strings.TrimSpace(c), "circus.stream.")
		return true
	}
	_, hasFile := m.opts["filename"]
	_, hasWhen := m.opts["rotate_when"]
	switch {
	case hasFile:
		m.cls, m.classOpt = "FileStream", m.stream+".filename"
	case m.now.file() && hasWhen:
		m.cls = "TimedRotatingFileStream" // a set of rotate_when alone
	case m.now.file():
		m.cls = "FileStream" // a set of max_bytes or backup_count alone
	default:
		first := m.stream + "." + slices.Sorted(maps.Keys(m.opts))[0]
		m.lost(first, "a stream needs a class or a filename (Circus refuses it: \"stream configuration invalid\"), and the watcher's %s is %q, not a file; give %s.filename", m.sinkKey, m.now.sinkOr(), m.stream)
		return false
	}
	return true
}

func (n Now) sinkOr() string {
	if n.Sink == "" {
		return configs.LogToStderr
	}
	return n.Sink
}

// stdout maps StdoutStream and FancyStdoutStream: poold's own log.
func (m *mapper) stdout() {
	m.keys[m.sinkKey] = configs.LogToStderr
	m.note(m.classOpt, "poold writes worker output to its own stderr, one line each, tagged with watcher, wid, pid and stream")
	if _, ok := m.opt("color"); ok || m.cls == "FancyStdoutStream" {
		m.note(m.classOpt, "no colours: poold's log is plain text (or JSON)")
	}
	if _, ok := m.opt("time_format"); ok {
		m.note(m.stream+".time_format", "poold's own log always carries its time; time_format is dropped")
	}
}

// fileStream maps the three file classes; false when there is no file.
func (m *mapper) fileStream() bool {
	key := func(o string) string { return m.stream + "." + o }
	fn, ok := m.opt("filename")
	switch {
	case ok && fn != "":
		m.keys[m.sinkKey] = m.absPath(key("filename"), fn)
	case !m.now.file():
		m.lost(key("filename"), "%s needs a file (Circus would write to a new temporary file); give its path", m.cls)
		return false
	}
	if v, ok := m.opt("time_format"); ok {
		m.keys["log_timestamps"] = true
		m.note(key("time_format"), "mapped to log_timestamps = true: poold writes an RFC 3339 UTC time with microseconds and a space before each line, not %q followed by \" [pid] | \"", v)
	}
	switch m.cls {
	case "FileStream":
		keep := m.backupCount()
		m.maxBytes(keep)
	case "TimedRotatingFileStream":
		m.backupCount()
		if _, ok := m.opt("max_bytes"); ok {
			m.note(key("max_bytes"), "TimedRotatingFileStream ignores max_bytes in Circus; so does poold")
		}
		m.rotateWhen()
	case "WatchedFileStream":
		for _, o := range []string{"max_bytes", "backup_count"} {
			if _, ok := m.opt(o); ok {
				m.note(key(o), "WatchedFileStream ignores %s in Circus (the file grows until moved away); so does poold", o)
			}
		}
		m.note(m.classOpt, "poold does not watch the file: after moving it away (logrotate without copytruncate), run `poolctl reopen %s` or send poold SIGUSR1 (in logrotate's postrotate) and poold reopens it", m.now.Watcher)
	}
	return true
}

// absPath makes a filename absolute. circusd opens a relative filename
// from its working directory (not the config file's), so poold resolves
// it against its own.
func (m *mapper) absPath(opt, fn string) string {
	if filepath.IsAbs(fn) {
		return fn
	}
	cwd, err := os.Getwd()
	if err != nil {
		cwd = "/"
	}
	m.note(opt, "relative: resolved against the working directory (%s) as circusd does; poold needs an absolute path", cwd)
	return filepath.Join(cwd, fn)
}

// backupCount maps backup_count onto log_keep and returns the count the
// stream keeps: the one given, or for a set without one the watcher's.
func (m *mapper) backupCount() int64 {
	v, ok := m.opt("backup_count")
	if !ok {
		return int64(m.now.Keep)
	}
	n, good := m.count("backup_count", v)
	if good && n > 0 {
		m.keys["log_keep"] = n
	}
	return n
}

// maxBytes maps max_bytes; Circus rotates by size only with a
// backup_count (without one it reopens the same file, which grows on).
func (m *mapper) maxBytes(keep int64) {
	v, ok := m.opt("max_bytes")
	if !ok {
		return
	}
	n, good := m.count("max_bytes", v)
	switch {
	case !good || n == 0:
	case keep == 0:
		m.note(m.stream+".max_bytes", "without backup_count Circus never rotates (the file grows on); log_max_size left out")
	default:
		m.keys["log_max_size"] = n
		m.renamed(m.stream+".max_bytes", "NAME.1 ... NAME.N")
	}
}

// renamed notes on opt, an option that makes poold rotate the file, that
// poold names rotated files otherwise than the stream's class names them
// (circusNames), as the supervisord translator notes for its files.
func (m *mapper) renamed(opt, circusNames string) {
	m.note(opt, "poold names a rotated file NAME.<UTC time> (app.log.20260102T150405.000000Z), not %s as Circus's %s does: change log shippers and scripts that read Circus's names", circusNames, m.cls)
}

// count reads a whole number >= 0, noting one that is not.
func (m *mapper) count(o, v string) (int64, bool) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		m.lost(m.stream+"."+o, "must be a whole number >= 0, got %q", v)
		return 0, false
	}
	return n, true
}

// rotateWhen maps TimedRotatingFileStream's rotate_when, rotate_interval
// and utc onto log_rotate.
func (m *mapper) rotateWhen() {
	key := func(o string) string { return m.stream + "." + o }
	if v, ok := m.opt("rotate_interval"); ok && v != "1" {
		m.lost(key("rotate_interval"), "poold rotates every hour or every day (rotate_when H or D), not every %s units; leave rotate_interval out", v)
	}
	if v, ok := m.opt("utc"); ok {
		if utc, err := strconv.ParseBool(v); err != nil || utc {
			m.lost(key("utc"), "poold rotates daily files at local midnight, not UTC midnight; leave utc out")
		}
	}
	when, ok := m.opt("rotate_when")
	switch strings.ToUpper(when) {
	case "H":
		m.keys["log_rotate"] = "hourly"
		m.renamed(key("rotate_when"), "NAME.<local time> (app.log.2026010215)")
	case "D", "MIDNIGHT":
		m.keys["log_rotate"] = "daily"
		m.renamed(key("rotate_when"), "NAME.<local date> (app.log.20260102)")
		if strings.ToUpper(when) == "D" {
			m.note(key("rotate_when"), "D rotates 24 hours after the file was last written in Circus; poold's \"daily\" rotates at local midnight")
		}
	default:
		if !ok {
			m.lost(m.classOpt, "Circus refuses TimedRotatingFileStream without rotate_when; give rotate_when H or D")
			return
		}
		m.lost(key("rotate_when"), "%q: poold rotates hourly (H) or daily (D, MIDNIGHT) only", when)
	}
}
