package arbiter

import (
	"reflect"
	"strings"
	"testing"

	"github.com/poold/poold/configs"
)

// TestCircusStreams maps Circus's stream options (add's objects, set's
// dotted keys) onto poold's log keys, and refuses what poold cannot do.
func TestCircusStreams(t *testing.T) {
	fileBase := configs.DefaultWatcher("w")
	fileBase.Logs.Stdout, fileBase.Logs.Keep = "/var/log/w.log", 3
	for _, tc := range []struct {
		name string
		base configs.Watcher
		in   map[string]any
		want map[string]any
		err  string
	}{
		{name: "file stream as add gives it (JSON numbers)", base: configs.DefaultWatcher("w"),
			in:   map[string]any{"stdout_stream": map[string]any{"class": "FileStream", "filename": "/l/o.log", "max_bytes": float64(1048576), "backup_count": float64(2)}},
			want: map[string]any{"stdout_log": "/l/o.log", "log_max_size": int64(1048576), "log_keep": int64(2)}},
		{name: "max_bytes without backup_count never rotates, as in Circus", base: configs.DefaultWatcher("w"),
			in:   map[string]any{"stdout_stream": map[string]any{"filename": "/l/o.log", "max_bytes": "100"}},
			want: map[string]any{"stdout_log": "/l/o.log"}},
		{name: "set of max_bytes alone keeps the file and its backup count", base: fileBase,
			in:   map[string]any{"stdout_stream.max_bytes": "4096"},
			want: map[string]any{"log_max_size": int64(4096)}},
		{name: "both streams to one file, one rotation", base: configs.DefaultWatcher("w"),
			in: map[string]any{
				"stdout_stream":       map[string]any{"class": "circus.stream.TimedRotatingFileStream", "filename": "/l/a.log", "rotate_when": "H", "time_format": "%c"},
				"stderr_stream.class": "TimedRotatingFileStream", "stderr_stream.filename": "/l/a.log", "stderr_stream.rotate_when": "h"},
			want: map[string]any{"stdout_log": "/l/a.log", "stderr_log": "/l/a.log", "log_rotate": "hourly", "log_timestamps": true}},
		{name: "stdout stream", base: fileBase,
			in:   map[string]any{"stdout_stream.class": "FancyStdoutStream", "stdout_stream.color": "red"},
			want: map[string]any{"stdout_log": "stderr"}},
		{name: "streams that disagree", base: configs.DefaultWatcher("w"),
			in: map[string]any{"stdout_stream": map[string]any{"filename": "/l/a.log", "backup_count": 2},
				"stderr_stream": map[string]any{"filename": "/l/b.log", "backup_count": 4}},
			err: "stdout_stream and stderr_stream give log_keep different values"},
		{name: "a Python class", base: configs.DefaultWatcher("w"),
			in: map[string]any{"stdout_stream": map[string]any{"class": "app.Stream"}}, err: "app.Stream is a Python stream class"},
		{name: "a file class without a file", base: configs.DefaultWatcher("w"),
			in: map[string]any{"stdout_stream.class": "FileStream"}, err: "stdout_stream.filename: FileStream needs a file"},
		{name: "rotate_interval", base: fileBase,
			in: map[string]any{"stdout_stream.rotate_when": "D", "stdout_stream.rotate_interval": "2"}, err: "not every 2 units"},
		{name: "utc", base: fileBase,
			in: map[string]any{"stdout_stream.rotate_when": "D", "stdout_stream.utc": true}, err: "not UTC midnight"},
		{name: "unknown option", base: fileBase,
			in: map[string]any{"stdout_stream.refresh_time": "0.3"}, err: "stdout_stream.refresh_time: no poold equivalent for this FileStream option"},
		{name: "not an object", base: fileBase,
			in: map[string]any{"stdout_stream": "FileStream"}, err: "stdout_stream: must be an object"},
		{name: "given twice", base: fileBase,
			in: map[string]any{"stdout_stream": map[string]any{"filename": "/a"}, "stdout_stream.filename": "/b"}, err: "stdout_stream.filename is given twice"},
		{name: "and poold's own key", base: fileBase,
			in: map[string]any{"stdout_stream.filename": "/b", "stdout_log": "/c"}, err: "stdout_stream sets stdout_log, which the options also give"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkMapped(t, circusStreams(tc.in, tc.base), tc.in, tc.want, tc.err)
		})
	}
}

// checkMapped checks what a Circus option mapping made of in: the error
// it gave contains wantErr, or there is none and in is want.
func checkMapped(t *testing.T, err error, in, want map[string]any, wantErr string) {
	t.Helper()
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("error %v, want one containing %q", err, wantErr)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, want) {
		t.Errorf("got %v, want %v", in, want)
	}
}
