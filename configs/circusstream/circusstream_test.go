package circusstream

import (
	"reflect"
	"strings"
	"testing"

	"github.com/poold/poold/configs"
)

func TestMap(t *testing.T) {
	fresh := Now{Watcher: "w", Sink: configs.LogToStderr}
	file := Now{Watcher: "w", Sink: "/l/w.log", Keep: 3}
	for _, tc := range []struct {
		name string
		opts map[string]string
		now  Now
		want map[string]any
		lost string // the one lost note's option and message, "" for none
	}{
		{"a filename alone is a FileStream", map[string]string{"filename": "/l/o.log", "max_bytes": "10", "backup_count": "2"}, fresh,
			map[string]any{"stdout_log": "/l/o.log", "log_max_size": int64(10), "log_keep": int64(2)}, ""},
		// Circus's TimedRotatingFileStream takes no max_bytes (its
		// **kwargs swallow it), nor does WatchedFileStream rotate at all.
		{"timed rotation ignores max_bytes, as in Circus", map[string]string{"class": "TimedRotatingFileStream", "filename": "/l/o.log", "rotate_when": "MIDNIGHT", "max_bytes": "10", "backup_count": "4"}, fresh,
			map[string]any{"stdout_log": "/l/o.log", "log_rotate": "daily", "log_keep": int64(4)}, ""},
		{"a watched file ignores max_bytes and backup_count, as in Circus", map[string]string{"class": "WatchedFileStream", "filename": "/l/o.log", "max_bytes": "10", "backup_count": "4"}, fresh,
			map[string]any{"stdout_log": "/l/o.log"}, ""},
		{"a set of rotate_when alone rotates the file the stream has", map[string]string{"rotate_when": "H"}, file,
			map[string]any{"log_rotate": "hourly"}, ""},
		{"a set of max_bytes alone keeps the stream's backups", map[string]string{"max_bytes": "4096"}, file,
			map[string]any{"log_max_size": int64(4096)}, ""},
		{"no class, no filename, no file", map[string]string{"max_bytes": "4096"}, fresh,
			nil, "stdout_stream.max_bytes: a stream needs a class or a filename"},
		{"a bad count", map[string]string{"filename": "/l/o.log", "backup_count": "many"}, fresh,
			map[string]any{"stdout_log": "/l/o.log"}, `stdout_stream.backup_count: must be a whole number >= 0, got "many"`},
		{"a Python class", map[string]string{"class": "app.Kafka", "topic": "t"}, fresh,
			nil, "stdout_stream.class: app.Kafka is a Python stream class"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keys, notes := Map("stdout_stream", tc.opts, tc.now)
			if !reflect.DeepEqual(keys, tc.want) {
				t.Errorf("keys %v, want %v", keys, tc.want)
			}
			var lost []string
			for _, n := range notes {
				if n.Lost {
					lost = append(lost, n.Opt+": "+n.Msg)
				}
			}
			switch {
			case tc.lost == "" && len(lost) > 0:
				t.Errorf("lost %q, want none", lost)
			case tc.lost != "" && (len(lost) != 1 || !strings.HasPrefix(lost[0], tc.lost)):
				t.Errorf("lost %q, want one starting %q", lost, tc.lost)
			}
		})
	}
}
