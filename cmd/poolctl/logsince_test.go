package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/watcher/proctest"
)

// logRecords parses --json logs output.
func logRecords(t *testing.T, out string) []logRecord {
	t.Helper()
	var recs []logRecord
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		var r logRecord
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("--json logs printed %q: %v", l, err)
		}
		recs = append(recs, r)
	}
	return recs
}

// TestLogsSince: "what did the workers say since the deploy" had no
// answer but -n and counting: --since, as journalctl's and docker logs',
// was unknown (exit 2). It now prints the lines written from a time on
// (a duration ago, an RFC 3339 time, a time of today), every kept one or
// the last -n, and says when the ring no longer goes back that far.
func TestLogsSince(t *testing.T) {
	p := startPoold(t)
	p.ctl(t, "add", "--start", "talk", "/bin/sh", "-c", talkScript)
	p.ctl(t, "set", "talk", "stdout_log", "none", "stderr_log", "none", "log_ring", "60")
	var recs []logRecord
	proctest.Eventually(t, "40 lines in the ring", func() bool {
		recs = logRecords(t, p.ctl(t, "--json", "logs", "talk", "-n", "40").stdout)
		return len(recs) == 40
	})
	cut := recs[20].Time
	// stdout and stderr are read apart: a line of one stream can follow a
	// line of the other in the ring with an earlier time (CI saw it).
	// What counts is the lines of that time or later.
	since, first := 0, recs[20].Seq
	for _, r := range recs {
		if !r.Time.Before(cut) {
			since++
			first = min(first, r.Seq)
		}
	}
	got := logRecords(t, p.ctl(t, "--json", "logs", "talk", "--since", cut.Format(time.RFC3339Nano)).stdout)
	if len(got) < since {
		t.Fatalf("--since %v printed %d lines, want the %d or more written since", cut, len(got), since)
	}
	for _, r := range got {
		if r.Time.Before(cut) {
			t.Errorf("--since %v printed line #%d of %v", cut, r.Seq, r.Time)
		}
	}
	if got[0].Seq > first {
		t.Errorf("--since %v began at line #%d, after #%d of that time", cut, got[0].Seq, first)
	}
	tail := logRecords(t, p.ctl(t, "--json", "logs", "talk", "--since", cut.Format(time.RFC3339Nano), "-n", "3").stdout)
	if len(tail) != 3 || tail[0].Time.Before(cut) {
		t.Errorf("--since with -n 3 printed %v", tail)
	}

	// The ring (60 lines) no longer holds an hour ago: all it has, and
	// a note on stderr saying where the rest is.
	proctest.Eventually(t, "the ring full and turning", func() bool {
		r := logRecords(t, p.ctl(t, "--json", "logs", "talk", "-n", "1").stdout)
		return len(r) == 1 && r[0].Seq > 61
	})
	r := p.ctl(t, "logs", "talk", "--since", "1h")
	if n := strings.Count(r.stdout, "\n"); n != 60 || !strings.Contains(r.stderr, "the ring of talk holds lines from ") {
		t.Errorf("--since 1h: %d lines, stderr %q; want the 60 kept and a note", n, r.stderr)
	}
	if bad := poolctl(t, append(p.conn(), "logs", "talk", "--since", "yesterday")...); bad.code != 2 || !strings.Contains(bad.stderr, "--since takes a duration ago") {
		t.Errorf("--since yesterday: %v, want exit 2 saying what it takes", bad)
	}
}
