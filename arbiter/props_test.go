package arbiter

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/configs"
)

func TestSecondsRange(t *testing.T) {
	for _, tc := range []struct {
		in   any
		want time.Duration
		err  string
	}{
		{5.0, 5 * time.Second, ""},
		{"2.5", 2500 * time.Millisecond, ""},
		{86400.0, 24 * time.Hour, ""},
		{9223372036.0, 9223372036 * time.Second, ""},
		{1e10, 0, "1e+10 seconds, too large: at most 9223372036 seconds"},
		{"1e10", 0, "1e10 seconds, too large"},
		{1e300, 0, "too large"},
		{-1.0, 0, "must be seconds >= 0"},
	} {
		got, err := props{"kill", map[string]any{"graceful_timeout": tc.in}}.seconds("graceful_timeout")
		var ce *CommandError
		switch {
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("seconds(%v) = %v, %v; want %v", tc.in, got, err, tc.want)
		case tc.err != "" && (!errors.As(err, &ce) || ce.Errno != ErrnoBadProperty || !strings.Contains(ce.Reason, tc.err)):
			t.Errorf("seconds(%v) = %v, %v; want errno 3 with %q", tc.in, got, err, tc.err)
		case tc.err != "" && !strings.Contains(err.Error(), `kill: property "graceful_timeout"`):
			t.Errorf("seconds(%v): error %q does not name the command and property", tc.in, err)
		}
	}
}

// A kill whose graceful_timeout does not fit in a Duration used to wrap
// to a negative one, which means "the watcher's own": the worker was
// killed after 5s instead of the grace asked for. It is refused now, and
// the worker is left alone.
func TestKillRefusesGracefulTimeoutTooLarge(t *testing.T) {
	h := start(t, &configs.Config{Watchers: []configs.Watcher{testWatcher("w", "sleep", 1)}}, Options{})
	pids := h.spawns(1)
	readyPids(t, h, "w", 1)
	var pid int
	for p := range pids {
		pid = p
	}
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	r := h.a.Do(ctx, Request{Command: "kill", Properties: map[string]any{"name": "w", "pid": pid, "graceful_timeout": 1e10}})
	if r["status"] != "error" || r["errno"] != ErrnoBadProperty || !strings.Contains(r["reason"].(string), "too large") {
		t.Fatalf("kill with graceful_timeout 1e10: %v; want errno 3, too large", r)
	}
	if err := syscall.Kill(pid, 0); err != nil {
		t.Errorf("worker %d after a refused kill: %v", pid, err)
	}
	if st := h.do("status", map[string]any{"name": "w"}); st["status"] != "active" {
		t.Errorf("status after a refused kill: %v", st)
	}
}

func TestParks(t *testing.T) {
	for _, tc := range []struct {
		req  Request
		want bool
	}{
		{Request{Command: "status"}, false},
		{Request{Command: "stop"}, false},
		{Request{Command: "stop", Properties: map[string]any{"waiting": true}}, true},
		{Request{Command: "stop", Properties: map[string]any{"waiting": "true"}}, true},
		{Request{Command: "stop", Properties: map[string]any{"waiting": 1.0}}, true},
		{Request{Command: "stop", Properties: map[string]any{"waiting": false}}, false},
		{Request{Command: "stop", Properties: map[string]any{"waiting": "maybe"}}, false},
		{Request{Command: "upgrade"}, true},
	} {
		if got := Parks(tc.req); got != tc.want {
			t.Errorf("Parks(%v) = %v, want %v", tc.req, got, tc.want)
		}
	}
}
