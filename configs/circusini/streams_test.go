package circusini

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/configs/translate"
)

// translateStreams translates one [watcher:w] with the given stream
// options and returns its configuration (non-strict) and its notes.
func translateStreams(t *testing.T, opts string) (configs.WorkerLogs, []translate.Note, *translate.Doc) {
	t.Helper()
	dir := t.TempDir()
	ini := filepath.Join(dir, "circus.ini")
	text := strings.ReplaceAll("[watcher:w]\ncmd = /bin/sleep 60\n"+opts, "@DIR@", dir)
	if err := os.WriteFile(ini, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	doc, err := Translate(ini, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := doc.Config(false)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Watchers[0].Logs, doc.Notes, doc
}

// hasNote finds a note of level on key whose message contains msg.
func hasNote(notes []translate.Note, level translate.Level, key, msg string) bool {
	for _, n := range notes {
		if n.Level == level && n.Section == "watcher:w" && n.Key == key && strings.Contains(n.Msg, msg) {
			return true
		}
	}
	return false
}

func TestStreamFileStream(t *testing.T) {
	l, notes, doc := translateStreams(t, `stdout_stream.class = FileStream
stdout_stream.filename = @DIR@/out.log
stdout_stream.max_bytes = 1048576
stdout_stream.backup_count = 5
stdout_stream.time_format = %Y-%m-%d %H:%M:%S
stderr_stream.filename = @DIR@/out.log
`)
	dir := filepath.Dir(doc.Source)
	if l.Stdout != dir+"/out.log" || l.Stderr != dir+"/out.log" || l.MaxSize != 1<<20 || l.Keep != 5 || !l.Timestamps {
		t.Errorf("logs %+v", l)
	}
	if !hasNote(notes, translate.Info, "stdout_stream.time_format", `not "%Y-%m-%d %H:%M:%S"`) {
		t.Errorf("no time_format note: %v", notes)
	}
	if len(doc.Warnings()) != 0 {
		t.Errorf("warnings %v", doc.Warnings())
	}
	// poold convert says that rotated files are named otherwise, as it
	// says for a supervisord file; it said nothing.
	const renamed = "not NAME.1 ... NAME.N as Circus's FileStream does: change log shippers and scripts that read Circus's names"
	if !hasNote(notes, translate.Info, "stdout_stream.max_bytes", renamed) {
		t.Errorf("no note on rotated file names: %v", notes)
	}
	var b strings.Builder
	doc.WriteTOML(&b)
	for _, want := range []string{`stdout_log = "` + dir + `/out.log"`, "log_max_size = 1048576", "log_keep = 5", "log_timestamps = true", renamed} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("TOML lacks %q:\n%s", want, b.String())
		}
	}
}

// Without backup_count Circus never rotates: max_bytes is left out.
func TestStreamMaxBytesWithoutBackups(t *testing.T) {
	l, notes, _ := translateStreams(t, "stdout_stream.class = FileStream\nstdout_stream.filename = @DIR@/o.log\nstdout_stream.max_bytes = 100\n")
	if l.MaxSize != 0 || !hasNote(notes, translate.Info, "stdout_stream.max_bytes", "never rotates") {
		t.Errorf("logs %+v notes %v", l, notes)
	}
}

func TestStreamTimedRotating(t *testing.T) {
	for _, tc := range []struct {
		when, rotate string
		warn         bool
	}{
		{"H", "hourly", false}, {"D", "daily", false}, {"MIDNIGHT", "daily", false}, {"midnight", "daily", false},
		{"S", "", true}, {"M", "", true}, {"W0", "", true},
	} {
		l, notes, _ := translateStreams(t, "stderr_stream.class = circus.stream.TimedRotatingFileStream\nstderr_stream.filename = @DIR@/e.log\nstderr_stream.backup_count = 3\nstderr_stream.rotate_when = "+tc.when+"\n")
		if l.Rotate != tc.rotate || l.Keep != 3 || !strings.HasSuffix(l.Stderr, "/e.log") || l.Stdout != configs.LogToStderr {
			t.Errorf("%s: logs %+v", tc.when, l)
		}
		if got := hasNote(notes, translate.Warn, "stderr_stream.rotate_when", "rotates hourly (H) or daily (D, MIDNIGHT) only"); got != tc.warn {
			t.Errorf("%s: warning %v, want %v: %v", tc.when, got, tc.warn, notes)
		}
		if got := hasNote(notes, translate.Info, "stderr_stream.rotate_when", "as Circus's TimedRotatingFileStream does: change log shippers"); got == tc.warn {
			t.Errorf("%s: note on rotated file names %v, want %v: %v", tc.when, got, !tc.warn, notes)
		}
	}
	_, notes, _ := translateStreams(t, "stdout_stream.class = TimedRotatingFileStream\nstdout_stream.filename = @DIR@/o.log\nstdout_stream.rotate_when = H\nstdout_stream.rotate_interval = 6\nstdout_stream.utc = true\n")
	if !hasNote(notes, translate.Warn, "stdout_stream.rotate_interval", "not every 6") || !hasNote(notes, translate.Warn, "stdout_stream.utc", "local midnight") {
		t.Errorf("notes %v", notes)
	}
}

func TestStreamWatchedAndStdout(t *testing.T) {
	l, notes, _ := translateStreams(t, "stdout_stream.class = WatchedFileStream\nstdout_stream.filename = @DIR@/o.log\nstderr_stream.class = StdoutStream\n")
	if !strings.HasSuffix(l.Stdout, "/o.log") || l.Stderr != configs.LogToStderr {
		t.Errorf("logs %+v", l)
	}
	if !hasNote(notes, translate.Info, "stdout_stream.class", "poolctl reopen w") || !hasNote(notes, translate.Info, "stderr_stream.class", "own stderr") {
		t.Errorf("notes %v", notes)
	}
}

// A Python class, an unknown option and conflicting per-watcher keys are
// warnings naming section and key, errors with strict.
func TestStreamWarnings(t *testing.T) {
	l, notes, doc := translateStreams(t, `stdout_stream.class = FileStream
stdout_stream.filename = @DIR@/o.log
stdout_stream.backup_count = 2
stdout_stream.colour = red
stderr_stream.class = FileStream
stderr_stream.filename = @DIR@/e.log
stderr_stream.backup_count = 4
`)
	if l.Keep != 2 {
		t.Errorf("log_keep %d, want stdout's 2", l.Keep)
	}
	if !hasNote(notes, translate.Warn, "stdout_stream.colour", "no poold equivalent for this FileStream option") ||
		!hasNote(notes, translate.Warn, "stderr_stream.backup_count", "one log_keep per watcher") {
		t.Errorf("notes %v", notes)
	}
	if _, err := doc.Config(true); err == nil || !strings.Contains(err.Error(), "[watcher:w] stdout_stream.colour") {
		t.Errorf("strict: %v", err)
	}
	l, notes, _ = translateStreams(t, "stdout_stream.class = myapp.streams.Kafka\nstdout_stream.topic = x\n")
	if l.Stdout != configs.LogToStderr || !hasNote(notes, translate.Warn, "stdout_stream.class", "myapp.streams.Kafka is a Python stream class") {
		t.Errorf("logs %+v notes %v", l, notes)
	}
}

// A relative filename is opened by Circus relative to circusd's working
// directory; poold resolves it against its own, with a note.
func TestStreamRelativeFilename(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	l, notes, _ := translateStreams(t, "stdout_stream.filename = out.log\n")
	if l.Stdout != filepath.Join(dir, "out.log") || !hasNote(notes, translate.Info, "stdout_stream.filename", "working directory") {
		t.Errorf("logs %+v notes %v", l, notes)
	}
}
