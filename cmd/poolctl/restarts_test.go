package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// A worker replaced for a limit or a failed health check starts in another
// wid, and nothing a user reads said so: status NAME now has a restarts
// line, by reason, with the last one (r61 pm2 trial F1).
func TestRestartsLine(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 6, 19, 10, 0, 0, time.Local)
	at := float64(now.Add(-192*time.Second).UnixNano()) / 1e9
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"from a poold that sends none", nil, ""},
		{"none yet", map[string]any{"total": 0.0, "by_reason": map[string]any{}}, ""},
		{"over a limit, the last named", map[string]any{"total": 3.0,
			"by_reason": map[string]any{"limit": 2.0, "exit": 1.0},
			"last": map[string]any{"time": at, "reason": "limit", "wid": 2.0, "pid": 1748.0,
				"why": "rss 178483200 bytes in pid 1748, which the worker started, over max_rss 125829120"}},
			"restarts: 3 (2 over max_rss or max_cpu, 1 crash, kill or exit); the last 3m12s ago, at 19:06:48, wid 2 pid 1748: " +
				"rss 178483200 bytes in pid 1748, which the worker started, over max_rss 125829120"},
		{"a start that failed has no pid, a reason this poolctl does not know", map[string]any{"total": 2.0,
			"by_reason": map[string]any{"spawn_error": 1.0, "future": 1.0},
			"last":      map[string]any{"time": at, "reason": "spawn_error", "wid": 1.0, "pid": 0.0, "why": "spawn error: no such file"}},
			"restarts: 2 (1 failed start, 1 other); the last 3m12s ago, at 19:06:48, wid 1: spawn error: no such file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := restartsLine(tc.v, now); got != tc.want {
				t.Errorf("restartsLine:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

// The status table gets a RESTARTS column once a watcher had a restart,
// none before (the output scripts read stays as it was).
func TestFormatStatusRestartsColumn(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, reply, want string }{
		{"none yet: no column", `{"status":"ok","statuses":{"web":"active"},"restarts":{"web":0}}`,
			lines("WATCHER  STATUS", "web      active")},
		{"one restarted", `{"status":"ok","statuses":{"web":"active","api":"flapping"},
			"reasons":{"api":"exited with status 1, 5 times in 10s"},"restarts":{"web":2,"api":5}}`,
			lines(
				"WATCHER  STATUS    RESTARTS  REASON",
				"api      flapping  5         exited with status 1, 5 times in 10s",
				"web      active    2")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := formatReply(&b, "status", decode(t, tc.reply)); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, b.String()); diff != "" {
				t.Errorf("output mismatch (-want +got):\n%s\ngot:\n%s", diff, b.String())
			}
		})
	}
}
