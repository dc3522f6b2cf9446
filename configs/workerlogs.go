package configs

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// WorkerLogs says where a watcher's workers' stdout and stderr go (the
// stdout_log, stderr_log and log_* keys of a [watchers.NAME] section).
type WorkerLogs struct {
	// Stdout and Stderr are each LogToStderr (poold's own log, with
	// watcher, wid, pid and stream fields: the default), LogToNone, or
	// an absolute file path that may use $(pool.name) and $(pool.wid).
	// The same path for both writes both streams into one file.
	Stdout, Stderr string
	Timestamps     bool // files: an RFC 3339 UTC time before each line
	JSON           bool // files: JSON lines (time, watcher, wid, pid, stream, line)
	// Rotation of the files, inside poold.
	MaxSize  uint64        // bytes; 0: no size rotation
	Rotate   string        // "", "hourly" or "daily"
	Keep     int           // rotated files kept; 0: all
	MaxAge   time.Duration // rotated files removed after this; 0: never
	Compress bool          // gzip rotated files
	// Ring is how many recent lines of the watcher poold keeps in memory
	// for `poolctl logs` and the console (also bounded to 4 MiB).
	Ring int
}

// Special sink values of stdout_log and stderr_log.
const (
	LogToStderr = "stderr"
	LogToNone   = "none"
)

// DefaultLogRing is the default of log_ring.
const DefaultLogRing = 1000

// DefaultWorkerLogs: both streams to poold's stderr, a 1000-line ring.
func DefaultWorkerLogs() WorkerLogs {
	return WorkerLogs{Stdout: LogToStderr, Stderr: LogToStderr, Ring: DefaultLogRing}
}

// IsFile reports whether a stdout_log or stderr_log value is a file path.
func IsLogFile(sink string) bool { return sink != LogToStderr && sink != LogToNone }

// logVarNames are the variables a log path may use.
var logVarNames = []string{"name", "wid"}

// LogPath is the file path of sink for worker wid of watcher name.
func LogPath(sink, name string, wid int) string {
	return Expand(sink, map[string]string{"name": name, "wid": fmt.Sprint(wid)})
}

func init() {
	watcherFields = append(watcherFields, workerLogFields...)
}

func logField(key string, p func(*WorkerLogs) *string) field[Watcher] {
	return stringField(key, func(w *Watcher) *string { return p(&w.Logs) })
}

var workerLogFields = []field[Watcher]{
	logField("stdout_log", func(l *WorkerLogs) *string { return &l.Stdout }),
	logField("stderr_log", func(l *WorkerLogs) *string { return &l.Stderr }),
	boolField("log_timestamps", func(w *Watcher) *bool { return &w.Logs.Timestamps }),
	boolField("log_json", func(w *Watcher) *bool { return &w.Logs.JSON }),
	{key: "log_max_size",
		decode: func(d *decoder, k string, raw any, w *Watcher) {
			if n, ok := d.size(k, raw); ok {
				w.Logs.MaxSize = n
			}
		},
		wire: func(w *Watcher) any { return w.Logs.MaxSize },
	},
	logField("log_rotate", func(l *WorkerLogs) *string { return &l.Rotate }),
	intField("log_keep", func(w *Watcher) *int { return &w.Logs.Keep }, 0, math.MaxInt32),
	durationField("log_max_age", func(w *Watcher) *time.Duration { return &w.Logs.MaxAge }, false),
	boolField("log_compress", func(w *Watcher) *bool { return &w.Logs.Compress }),
	intField("log_ring", func(w *Watcher) *int { return &w.Logs.Ring }, 0, 1_000_000),
}

// validateWorkerLogs checks the sinks: a file path is absolute, uses only
// $(pool.name) and $(pool.wid), and its directory exists and is writable
// by poold (checked for wid 1); log_rotate is a known period.
func validateWorkerLogs(ps *problems, k func(string) string, w *Watcher) {
	l := &w.Logs
	for _, s := range []struct{ key, val string }{{"stdout_log", l.Stdout}, {"stderr_log", l.Stderr}} {
		key := k(s.key)
		switch {
		case ps.has(key):
		case s.val == "":
			ps.add(key, `must be "stderr" (poold's log), "none" or an absolute file path`)
		case !IsLogFile(s.val):
		case !filepath.IsAbs(s.val):
			ps.add(key, "%q is not an absolute path; give the full path of the log file, or \"stderr\" or \"none\"", s.val)
		default:
			checkLogPath(ps, key, w.Name, s.val)
		}
	}
	switch l.Rotate {
	case "", "hourly", "daily":
	default:
		ps.add(k("log_rotate"), `must be "hourly", "daily" or "" (no time rotation), got %q`, l.Rotate)
	}
}

func checkLogPath(ps *problems, key, name, path string) {
	for _, x := range variables(path) {
		if !strings.Contains(" "+strings.Join(logVarNames, " ")+" ", " "+x+" ") {
			ps.add(key, "unknown variable %q in a log path; known: %s", x, strings.Join(logVarNames, ", "))
			return
		}
	}
	p := LogPath(path, name, 1)
	if strings.HasSuffix(path, "/") {
		ps.add(key, "%q is a directory; name the log file", path)
		return
	}
	dir := filepath.Dir(p)
	if err := unix.Access(dir, unix.W_OK|unix.X_OK); err != nil {
		ps.add(key, "directory %s of the log file is not writable: %v; create it or fix its permissions", dir, err)
	}
}
