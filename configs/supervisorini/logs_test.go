package supervisorini

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/poold/poold/configs"

	"github.com/poold/poold/configs/translate"
)

func translateProgram(t *testing.T, opts string) (configs.WorkerLogs, []translate.Note, *translate.Doc, string) {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "supervisord.conf")
	text := strings.ReplaceAll("[program:p]\ncommand = /bin/sleep 60\n"+opts, "@DIR@", dir)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	doc, err := Translate(conf, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := doc.Config(false)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Watchers[0].Logs, doc.Notes, doc, dir
}

func hasNote(notes []translate.Note, level translate.Level, key, msg string) bool {
	for _, n := range notes {
		if n.Level == level && n.Section == "program:p" && n.Key == key && strings.Contains(n.Msg, msg) {
			return true
		}
	}
	return false
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]uint64{"0": 0, "1024": 1024, "1KB": 1 << 10, "5mb": 5 << 20, "2 GB": 2 << 30} {
		if got, err := byteSize(in); err != nil || got != want {
			t.Errorf("%q: %d %v, want %d", in, got, err, want)
		}
	}
	if _, err := byteSize("5TB"); err == nil || !strings.Contains(err.Error(), `"5TB" is not a size`) {
		t.Errorf("5TB: %v", err)
	}
}

func TestLogfileDefaultsAndTOML(t *testing.T) {
	l, _, doc, dir := translateProgram(t, "stdout_logfile = %(here)s/out.log\nstderr_logfile = NONE\n")
	if l.Stdout != dir+"/out.log" || l.Stderr != "none" || l.MaxSize != 50<<20 || l.Keep != 10 {
		t.Errorf("logs %+v", l)
	}
	var b strings.Builder
	doc.WriteTOML(&b)
	for _, want := range []string{`stdout_log = "` + dir + `/out.log"`, `stderr_log = "none"`, "log_max_size = 52428800", "log_keep = 10", "supervisord's default 50MB"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("TOML lacks %q:\n%s", want, b.String())
		}
	}
}

func TestLogfileSizesAndBackups(t *testing.T) {
	l, notes, _, _ := translateProgram(t, "stdout_logfile = @DIR@/o.log\nstdout_logfile_maxbytes = 1MB\nstdout_logfile_backups = 0\nstderr_logfile = @DIR@/e.log\nstderr_logfile_maxbytes = 2MB\nstderr_logfile_backups = 0\n")
	if l.MaxSize != 1<<20 || l.Keep != 1 || !strings.HasSuffix(l.Stderr, "/e.log") {
		t.Errorf("logs %+v", l)
	}
	if !hasNote(notes, translate.Info, "stdout_logfile_backups", "truncates") || !hasNote(notes, translate.Warn, "stderr_logfile_maxbytes", "one log_max_size per watcher") ||
		!hasNote(notes, translate.Info, "stdout_logfile", "not NAME.1 ... NAME.N as supervisord does") {
		t.Errorf("notes %v", notes)
	}
	l, _, _, _ = translateProgram(t, "stdout_logfile = @DIR@/o.log\nstdout_logfile_maxbytes = 0\n")
	if l.MaxSize != 0 || l.Keep != 0 {
		t.Errorf("maxbytes 0: logs %+v", l)
	}
	_, notes, doc, _ := translateProgram(t, "stdout_logfile = @DIR@/o.log\nstdout_logfile_maxbytes = lots\n")
	if !hasNote(notes, translate.Warn, "stdout_logfile_maxbytes", `"lots" is not a size`) {
		t.Errorf("notes %v", notes)
	}
	if _, err := doc.Config(true); err == nil || !strings.Contains(err.Error(), "[program:p] stdout_logfile_maxbytes") {
		t.Errorf("strict: %v", err)
	}
}

func TestRedirectStderr(t *testing.T) {
	l, notes, _, _ := translateProgram(t, "redirect_stderr = true\nstdout_logfile = @DIR@/all.log\nstderr_logfile = @DIR@/ignored.log\n")
	if !strings.HasSuffix(l.Stdout, "/all.log") || l.Stderr != l.Stdout {
		t.Errorf("logs %+v", l)
	}
	if !hasNote(notes, translate.Info, "stderr_logfile", "ignored with redirect_stderr") {
		t.Errorf("notes %v", notes)
	}
}

func TestLogfileAutoSyslogRelative(t *testing.T) {
	l, notes, doc, _ := translateProgram(t, "stdout_logfile = AUTO\nstderr_logfile = syslog\nstdout_capture_maxbytes = 1MB\n")
	if l.Stdout != "stderr" || l.Stderr != "stderr" {
		t.Errorf("logs %+v", l)
	}
	for _, k := range []string{"stdout_logfile", "stderr_logfile", "stdout_capture_maxbytes"} {
		if !hasNote(notes, translate.Warn, k, "") {
			t.Errorf("no warning on %s: %v", k, notes)
		}
	}
	if _, err := doc.Config(true); err == nil || !strings.Contains(err.Error(), "[program:p] stdout_logfile: AUTO") {
		t.Errorf("strict: %v", err)
	}
	dir := t.TempDir()
	t.Chdir(dir)
	l, notes, _, _ = translateProgram(t, "stdout_logfile = logs/../o.log\n")
	if l.Stdout != filepath.Join(dir, "o.log") || !hasNote(notes, translate.Info, "stdout_logfile", "working directory") {
		t.Errorf("relative: logs %+v notes %v", l, notes)
	}
}

// Defect (r53b review, finding 5): a stream with *_logfile_maxbytes = 0,
// which supervisord never rotates, took the other stream's rotation
// (poold has one log_max_size per watcher), so its older output was
// deleted. Now neither is rotated by size, with a warning on the one
// that asked for rotation.
func TestNeverRotatedStreamKeepsAll(t *testing.T) {
	for _, tc := range []struct{ opts, warned string }{
		{"stdout_logfile_maxbytes = 20KB\nstdout_logfile_backups = 2\nstderr_logfile_maxbytes = 0\n", "stdout_logfile_maxbytes"},
		{"stdout_logfile_maxbytes = 0\nstderr_logfile_maxbytes = 1MB\nstderr_logfile_backups = 3\n", "stderr_logfile_maxbytes"},
		{"stdout_logfile_maxbytes = 0\n", "stderr_logfile_maxbytes"}, // stderr's default 50MB
	} {
		l, notes, _, _ := translateProgram(t, "stdout_logfile = @DIR@/o.log\nstderr_logfile = @DIR@/e.log\n"+tc.opts)
		if l.MaxSize != 0 || l.Keep != 0 {
			t.Errorf("%q: log_max_size %d, log_keep %d; want 0, 0 (no stream rotated, none deleted)", tc.opts, l.MaxSize, l.Keep)
		}
		if !hasNote(notes, translate.Warn, tc.warned, "one log_max_size per watcher") {
			t.Errorf("%q: no warning on %s: %v", tc.opts, tc.warned, notes)
		}
	}
	// NONE or a redirected stderr is no file to keep whole.
	l, _, _, _ := translateProgram(t, "stdout_logfile = @DIR@/o.log\nstdout_logfile_maxbytes = 1MB\nstderr_logfile = NONE\nstderr_logfile_maxbytes = 0\n")
	if l.MaxSize != 1<<20 {
		t.Errorf("stderr NONE: log_max_size %d, want 1MB", l.MaxSize)
	}
	l, _, _, _ = translateProgram(t, "redirect_stderr = true\nstdout_logfile = @DIR@/o.log\nstdout_logfile_maxbytes = 1MB\nstderr_logfile_maxbytes = 0\n")
	if l.MaxSize != 1<<20 {
		t.Errorf("redirect_stderr: log_max_size %d, want 1MB", l.MaxSize)
	}
}

// A program without stdout_logfile (supervisord's AUTO file) gets a note
// saying where its output goes now (r53b review, finding 11).
func TestNoLogfileSaysWhereOutputGoes(t *testing.T) {
	_, notes, _, _ := translateProgram(t, "")
	if !hasNote(notes, translate.Info, "stdout_logfile", "writes each line to its own stderr") {
		t.Errorf("notes %v", notes)
	}
}
