package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/poold/poold/watcher/proctest"
)

// TestCircusStreamOptions: Circus's stdout_stream and stderr_stream, as
// a CircusClient's add gives them (an object) and as circusctl's set
// gives them (stdout_stream.KEY), set poold's worker log keys the way
// the circus.ini translator maps them. poold refused both ("unknown
// option"), so a deploy script that adds its watchers with file logging
// stopped working when circusd was replaced.
func TestCircusStreamOptions(t *testing.T) {
	circusPeer(t)
	p := startPoold(t, "\n[arbiter]\nENDPOINTS\n[watchers.other]\ncmd = \"/bin/sleep\"\nargs = [\"3600\"]\n")
	ep := ctlEndpoint(p)
	out := filepath.Join(p.dir, "out.log")
	add := circusClient(t, ep, []map[string]any{{
		"command": "add",
		"properties": map[string]any{
			"name": "logged", "cmd": "/bin/sh", "args": []any{"-c", "echo out-line; echo err-line >&2; exec sleep 3600"},
			"start": true, "waiting": true,
			"options": map[string]any{
				"stdout_stream": map[string]any{"class": "FileStream", "filename": out, "max_bytes": 1048576, "backup_count": 2},
				"stderr_stream": map[string]any{"class": "StdoutStream"},
			},
		},
	}})
	if add[0].Reply["status"] != "ok" {
		t.Fatalf("add with Circus's stream options: %v", add[0].Reply)
	}
	proctest.Eventually(t, "the worker's stdout reaches "+out, func() bool {
		b, _ := os.ReadFile(out)
		return strings.Contains(string(b), "out-line")
	})
	if b, _ := os.ReadFile(out); strings.Contains(string(b), "err-line") {
		t.Errorf("stderr (StdoutStream) went into the stdout file: %q", b)
	}
	timed := filepath.Join(p.dir, "timed.log")
	steps := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"get", "logged", "stdout_log", "stderr_log", "log_max_size", "log_keep"},
			0, "stdout_log: " + out + "\nstderr_log: stderr\nlog_max_size: 1048576\nlog_keep: 2"},
		{[]string{"set", "logged", "stdout_stream.class", "TimedRotatingFileStream", "stdout_stream.filename", timed,
			"stdout_stream.rotate_when", "MIDNIGHT", "stdout_stream.backup_count", "5"}, 0, "ok"},
		{[]string{"get", "logged", "stdout_log", "log_rotate", "log_keep"}, 0, "stdout_log: " + timed + "\nlog_rotate: daily\nlog_keep: 5"},
		{[]string{"set", "logged", "stderr_stream.filename", timed}, 0, "ok"},
		{[]string{"get", "logged", "stderr_log"}, 0, "stderr_log: " + timed},
		{[]string{"set", "logged", "stdout_stream.class", "myapp.streams.Kafka"}, 3,
			`error: set: watcher "logged": stdout_stream.class: myapp.streams.Kafka is a Python stream class, which poold cannot run`},
		{[]string{"set", "logged", "stdout_stream.rotate_when", "W0"}, 3,
			`error: set: watcher "logged": stdout_stream.rotate_when: "W0": poold rotates hourly (H) or daily (D, MIDNIGHT) only`},
	}
	lines := make([][]string, len(steps))
	for i, s := range steps {
		lines[i] = s.args
	}
	for i, r := range circusctlBatch(t, ep, lines) {
		s := steps[i]
		if r.code != s.code || !strings.HasPrefix(r.out, s.want) {
			t.Errorf("circusctl %s: exit %d, output:\n%s\nwant exit %d and output starting %q", strings.Join(s.args, " "), r.code, r.out, s.code, s.want)
		}
	}
}
