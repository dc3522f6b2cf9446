package supervisorini

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/poold/poold/configs/translate"
)

// supervisord's defaults for a program's log files.
const (
	defaultMaxBytes = 50 << 20 // stdout_logfile_maxbytes = 50MB
	defaultBackups  = 10       // stdout_logfile_backups = 10
)

// progLogs collects a program's stdout_logfile* / stderr_logfile* and
// redirect_stderr, mapped once the whole section is read.
type progLogs struct {
	opts     map[string]string // option (expanded) by key
	redirect bool
	// never is the *_logfile_maxbytes key that is 0 ("never rotate")
	// for a stream written to a file, or "".
	never string
}

// isLogOption reports whether key is one progLogs maps.
func isLogOption(key string) bool {
	for _, s := range []string{"stdout", "stderr"} {
		switch strings.TrimPrefix(key, s+"_") {
		case "logfile", "logfile_maxbytes", "logfile_backups":
			return strings.HasPrefix(key, s+"_")
		}
	}
	return key == "redirect_stderr"
}

func (l *progLogs) add(key, v string) {
	if l.opts == nil {
		l.opts = map[string]string{}
	}
	l.opts[key] = strings.TrimSpace(v)
	if key == "redirect_stderr" {
		l.redirect = toBool(v) == true
	}
}

// logs maps the collected options onto stdout_log, stderr_log,
// log_max_size and log_keep. supervisord rotates each file at
// *_logfile_maxbytes (50MB) keeping *_logfile_backups (10); poold's
// rotation keys are per watcher, so stdout's values win when the streams
// disagree.
func (t *translator) logs(out *translate.Section, s *translate.INISection, l *progLogs) {
	if _, ok := l.opts["stdout_logfile"]; !ok {
		t.info(out, s, "stdout_logfile", "unset: supervisord writes the output to an AUTO file in childlogdir (what supervisorctl tail reads); poold writes each line to its own stderr (the journal under systemd; `poolctl logs NAME` shows the last lines, as supervisorctl tail does): set stdout_logfile to keep a file")
	}
	if l.opts == nil {
		return
	}
	l.never = l.neverRotated()
	if l.redirect {
		t.info(out, s, "redirect_stderr", "stderr goes where stdout goes (stderr_log = stdout_log), as supervisord does")
	}
	for _, stream := range []string{"stdout", "stderr"} {
		if stream == "stderr" && l.redirect {
			for _, k := range []string{"stderr_logfile", "stderr_logfile_maxbytes", "stderr_logfile_backups"} {
				if _, ok := l.opts[k]; ok {
					t.info(out, s, k, "ignored with redirect_stderr = true, as supervisord ignores it")
				}
			}
			if v, ok := out.Get("stdout_log"); ok {
				out.Set("stderr_log", v)
			}
			continue
		}
		t.logFile(out, s, l, stream)
	}
}

// logFile maps one stream's *_logfile and its rotation options.
func (t *translator) logFile(out *translate.Section, s *translate.INISection, l *progLogs, stream string) {
	key := stream + "_logfile"
	v, ok := l.opts[key]
	if !ok {
		return
	}
	switch strings.ToUpper(v) {
	case "NONE":
		out.Set(stream+"_log", "none") // configs.LogToNone (this package imports only translate)
		return
	case "AUTO", "":
		t.warn(out, s, key, "AUTO: supervisord picks a file in childlogdir and removes it on restart; poold keeps its default (worker lines in its own stderr); name a file to keep a log file")
		return
	case "SYSLOG":
		t.warn(out, s, key, "poold does not write to syslog; its own stderr (the default) goes to the journal under systemd")
		return
	}
	out.Set(stream+"_log", t.logPath(out, s, key, v))
	size := uint64(defaultMaxBytes)
	if mb, ok := l.opts[key+"_maxbytes"]; ok {
		n, err := byteSize(mb)
		if err != nil {
			t.warn(out, s, key+"_maxbytes", err.Error()+"; supervisord's default 50MB used")
		} else {
			size = n
		}
	} else {
		out.Comment("%s_maxbytes: supervisord's default 50MB", key)
	}
	if size == 0 {
		return
	}
	if l.never != "" {
		// poold rotates both streams of a watcher at one size: rotating
		// this one would rotate (and in time delete) the other too
		t.warn(out, s, key+"_maxbytes", fmt.Sprintf("not rotated: poold has one log_max_size per watcher and %s = 0 asks never to rotate that stream, so neither file is rotated by size and no output is deleted; rotate this file with logrotate (postrotate: kill -USR1 poold's pid to reopen it), or set log_rotate", l.never))
		return
	}
	t.setShared(out, s, key+"_maxbytes", "log_max_size", int64(size))
	keep := int64(defaultBackups)
	if b, ok := l.opts[key+"_backups"]; ok {
		n, err := strconv.ParseInt(b, 10, 64)
		switch {
		case err != nil || n < 0:
			t.warn(out, s, key+"_backups", fmt.Sprintf("%q is not a count; supervisord's default 10 used", b))
		case n == 0:
			keep = 1
			t.info(out, s, key+"_backups", "0: supervisord truncates the file when full; poold keeps one rotated file (log_keep = 1) instead")
		default:
			keep = n
		}
	} else {
		out.Comment("%s_backups: supervisord's default 10", key)
	}
	t.setShared(out, s, key+"_backups", "log_keep", keep)
	t.info(out, s, key, "poold names a rotated file NAME.<UTC time> (app.log.20260102T150405.000000Z), not NAME.1 ... NAME.N as supervisord does: change log shippers and scripts that read NAME.1")
}

// neverRotated returns the *_logfile_maxbytes key that is 0 for a stream
// supervisord writes to a file, or "".
func (l *progLogs) neverRotated() string {
	for _, stream := range []string{"stdout", "stderr"} {
		if stream == "stderr" && l.redirect {
			continue
		}
		switch f, ok := l.opts[stream+"_logfile"]; {
		case !ok, f == "", strings.EqualFold(f, "NONE"), strings.EqualFold(f, "AUTO"), strings.EqualFold(f, "SYSLOG"):
			continue
		}
		if n, err := byteSize(l.opts[stream+"_logfile_maxbytes"]); err == nil && n == 0 {
			return stream + "_logfile_maxbytes"
		}
	}
	return ""
}

// setShared sets a per-watcher log key, warning when the other stream
// set it to something else.
func (t *translator) setShared(out *translate.Section, s *translate.INISection, iniKey, key string, v int64) {
	if old, ok := out.Get(key); ok && old != v {
		t.warn(out, s, iniKey, fmt.Sprintf("poold has one %s per watcher, already %v from stdout; this value is left out", key, old))
		return
	}
	out.Set(key, v)
}

// logPath makes a log file path absolute: supervisord opens a relative
// path relative to its working directory, so poold resolves it against
// the working directory of `poold convert`.
func (t *translator) logPath(out *translate.Section, s *translate.INISection, key, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	cwd, err := os.Getwd()
	if err != nil {
		cwd = "/"
	}
	t.info(out, s, key, fmt.Sprintf("relative: resolved against the working directory (%s) as supervisord does; use %%(here)s for the file's directory", cwd))
	return filepath.Join(cwd, p)
}

// byteSize reads supervisord's sizes: bytes, or a KB, MB or GB suffix
// (binary units, any case).
func byteSize(v string) (uint64, error) {
	s := strings.ToUpper(strings.TrimSpace(v))
	mult := uint64(1)
	for suf, m := range map[string]uint64{"KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30} {
		if strings.HasSuffix(s, suf) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, suf)), m
			break
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a size (bytes, or a number with KB, MB or GB)", v)
	}
	return n * mult, nil
}
