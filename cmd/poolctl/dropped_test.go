package main

import (
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/watcher/proctest"
)

func TestStatusShowsDroppedLogLines(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	r := reply{"statuses": map[string]any{"web": "active", "api": "active"},
		"logs": map[string]any{"web": map[string]any{"lines": 10.0, "dropped": 3.0}, "api": map[string]any{"lines": 5.0, "dropped": 0.0}}}
	if err := formatStatusLogs(&b, r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "web: 3 log lines dropped") || strings.Contains(b.String(), "api:") {
		t.Errorf("status printed:\n%s", b.String())
	}
	b.Reset()
	one := reply{"status": "active", "logs": map[string]any{"lines": 10.0, "dropped": 7.0}}
	if err := formatStatusLogs(&b, one); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(b.String()), "\n"); lines[0] != "active" || !strings.HasPrefix(lines[1], "7 log lines dropped") {
		t.Errorf("status NAME printed:\n%s", b.String())
	}
}

const (
	fileCause    = "log lines dropped: a log file could not be written (see poold's log or the log_error event)"
	queueCause   = "log lines dropped: poold's log queue was full with this watcher's lines on the \"stderr\" sink"
	unknownCause = "log lines dropped: a log file could not be written, or poold's log queue was full (see poold's log)"
	stderrCause  = "log lines dropped: poold's stderr failed or is gone"
)

// afterCount is a cause's words after "log lines dropped" and the time
// of the last drop (which a real poold gives): ": poold's log queue...".
func afterCount(cause string) string { return strings.TrimPrefix(cause, "log lines dropped") }

// TestStatusWordsEachCauseOfDroppedLines: status said "a log file could
// not be written" of any dropped line, also of the lines poold's log
// queue dropped for a watcher on the "stderr" sink, which has no file.
// Each cause poold counts gets its own line; the lines of no known cause
// (a poold that counts only dropped) get a wording that covers both.
func TestStatusWordsEachCauseOfDroppedLines(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		logs map[string]any
		want []string
	}{
		{"file", map[string]any{"dropped": 4.0, "dropped_file": 4.0, "dropped_queue": 0.0}, []string{"4 " + fileCause}},
		{"queue", map[string]any{"dropped": 9.0, "dropped_file": 0.0, "dropped_queue": 9.0}, []string{"9 " + queueCause}},
		{"both", map[string]any{"dropped": 5.0, "dropped_file": 2.0, "dropped_queue": 3.0}, []string{"2 " + fileCause, "3 " + queueCause}},
		{"stderr gone", map[string]any{"dropped": 7.0, "dropped_file": 0.0, "dropped_queue": 0.0, "dropped_stderr": 7.0}, []string{"7 " + stderrCause}},
		{"queue then stderr", map[string]any{"dropped": 9.0, "dropped_file": 0.0, "dropped_queue": 4.0, "dropped_stderr": 5.0}, []string{"4 " + queueCause, "5 " + stderrCause}},
		{"older poold", map[string]any{"dropped": 6.0}, []string{"6 " + unknownCause}},
		// r67 diskfull F6: the advice named neither a full disk nor a
		// reader that does not read.
		{"stderr on a full disk", map[string]any{"dropped": 7.0, "dropped_stderr": 7.0, "stderr_sink": "failing", "stderr_full": true},
			[]string{"7 " + stderrCause + ", so its lines on the \"stderr\" sink could not be written (poolctl dstats shows log_stderr; poolctl logs still has its recent lines); poold's stderr is a file on a full file system (out of space, inodes or quota): free space or inodes on it (df -h, df -i)"}},
		{"stderr blocked", map[string]any{"dropped": 9.0, "dropped_queue": 9.0, "stderr_sink": "blocked"},
			[]string{"9 " + queueCause + " (poold's stderr is blocked now: whoever reads it, a pipe, is not reading"}},
		{"handed over by an older image", map[string]any{"dropped": 8.0, "dropped_queue": 3.0}, []string{"3 " + queueCause, "5 " + unknownCause}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			if err := formatStatusLogs(&b, reply{"status": "active", "logs": tc.logs}); err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSpace(b.String()), "\n")[1:]
			if len(lines) != len(tc.want) {
				t.Fatalf("status printed:\n%s\nwant %d lines about dropped lines", b.String(), len(tc.want))
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(lines[i], w) {
					t.Errorf("line %d: %q, want it to begin %q", i+1, lines[i], w)
				}
			}
		})
	}
}

// TestStatusSaysTheLogQueueDroppedAChattyWatchersLines: a real poold, a
// watcher writing lines as fast as it can on the default "stderr" sink
// (no log file), more than poold writes to its stderr one write each:
// its log queue drops them, and status says so, not that a log file
// could not be written.
//
// poold's stderr is a pipe nobody reads until status has answered: the
// queue fills whatever the machine's speed. With stderr a regular file,
// whether poold's writes fell behind two 'yes' workers depended on the
// host and the file system (the same defect as poold's chatty-lane test,
// 4cde208); on a fast one nothing was dropped and the wait ran out.
func TestStatusSaysTheLogQueueDroppedAChattyWatchersLines(t *testing.T) {
	t.Parallel()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() }) // w too, should poold not start
	p := startPooldWith(t, pooldConf{stderr: w, arbiter: `
[watchers.chatty]
cmd = "yes"
args = ["a line of worker output, as fast as poold reads it"]
numprocesses = 2
`})
	w.Close()
	// Registered after startPooldWith's stop, so it runs first: poold
	// may write what is queued on its way out.
	drained := make(chan struct{})
	t.Cleanup(func() {
		go func() { defer close(drained); _, _ = io.Copy(io.Discard, r) }()
		p.stop(t)
		<-drained
	})
	var out string
	proctest.Eventually(t, "status to show chatty's dropped lines", func() bool {
		out = p.ctl(t, "status").stdout
		return strings.Contains(out, "chatty: ")
	})
	one := p.ctl(t, "status", "chatty").stdout
	p.ctl(t, "stop", "chatty")
	for _, s := range []string{out, one} {
		if !strings.Contains(s, afterCount(queueCause)) || strings.Contains(s, "could not be written") {
			t.Errorf("status printed:\n%s\nwant only %q", s, queueCause)
		}
	}
}

// TestStatusSaysStderrIsGoneNotTheQueue: poold's stderr a pipe whose
// reader went away (`poold cfg 2>&1 | head -3`, head exited), a watcher
// writing a line every 10 ms: every line was dropped and counted as the
// log queue's, and status blamed a queue full of a chatty watcher's
// lines, advising a log file, while the queue was empty. They count as
// stderr's, and status says stderr is gone.
func TestStatusSaysStderrIsGoneNotTheQueue(t *testing.T) {
	t.Parallel()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	defer w.Close()
	p := startPooldWith(t, pooldConf{stderr: w, arbiter: `
[watchers.chatty]
cmd = "sh"
args = ["-c", "while :; do echo a line; sleep 0.01; done"]
`})
	var out string
	proctest.Eventually(t, "status to show chatty's dropped lines", func() bool {
		out = p.ctl(t, "status", "chatty").stdout
		return strings.Contains(out, "log lines dropped")
	})
	if !strings.Contains(out, afterCount(stderrCause)) || strings.Contains(out, "queue was full") {
		t.Errorf("status chatty printed:\n%s\nwant only %q", out, stderrCause)
	}
	// poold says when (r57b oncall L2): the line is of a drop going on.
	if !strings.Contains(out, "log lines dropped (the last ") {
		t.Errorf("status chatty printed:\n%s\nwant when the last line was dropped", out)
	}
	js := p.ctl(t, "--json", "status", "chatty").stdout
	if !strings.Contains(js, `"dropped_queue":0,`) {
		t.Errorf("--json status chatty:\n%s\nwant no line counted as the queue's", js)
	}
}

// TestStatusSaysWhenLinesWereLastDropped: the dropped counts are totals
// since poold started, and status printed them on every call with no
// time: a disk that filled last week read as one full now (r57b oncall
// L2). Each cause now says when it last dropped a line.
func TestStatusSaysWhenLinesWereLastDropped(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 6, 19, 10, 0, 0, time.Local)
	at := func(d time.Duration) float64 { return float64(now.Add(-d).UnixMilli()) / 1000 }
	got := droppedLines(map[string]any{"dropped": 9.0, "dropped_file": 4.0, "dropped_queue": 5.0,
		"dropped_file_at": at(3*time.Minute + 12*time.Second), "dropped_queue_at": at(50 * time.Hour)}, now)
	want := []string{
		"4 log lines dropped (the last 3m12s ago, at 19:06:48): a log file could not be written",
		"5 log lines dropped (the last 2d02h ago, at 2026-12-04 17:10:00): poold's log queue was full",
	}
	if len(got) != len(want) {
		t.Fatalf("droppedLines: %q, want %d lines", got, len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(got[i], w) {
			t.Errorf("line %d: %q, want it to begin %q", i+1, got[i], w)
		}
	}
}
