package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestJSONWithoutReply: with --json, stdout was empty when poolctl got no
// reply (poold down, a timeout, bad usage), so a script doing
// `out=$(poolctl --json ...); jq .status <<<"$out"` had to treat that
// apart. poolctl now prints its own error object there; the exit status
// is as before. An error reply of poold's was printed as it came,
// without the error and exit_status keys of poolctl's own objects (r58
// cli trial, L1): a script had to know two shapes for exit 1. poold's
// reply now gets both keys added, its own kept.
func TestJSONWithoutReply(t *testing.T) {
	silent := startFake(t, nil)
	refusing := startFake(t, func(req map[string]any) map[string]any {
		return map[string]any{"status": "error", "errno": 3, "reason": "program web not found"}
	})
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		kind   string
		reason string
		errno  float64
	}{
		{"unreachable", []string{"--endpoint", missingEndpoint(t), "status"}, exitUnreachable, failUnreachable, "Cannot reach poold at ", 0},
		{"timeout", []string{"--endpoint", silent.endpoint, "--timeout", "300ms", "stop", "web"}, exitUnreachable, failTimeout, "timed out after 300ms waiting for 'stop web'", 0},
		{"usage", []string{"--endpoint", silent.endpoint, "incr"}, exitUsage, failUsage, "", 0},
		{"unknown command", []string{"--endpoint", silent.endpoint, "incre", "web"}, exitUsage, failUsage, `unknown command "incre"`, 0},
		{"poold's error, with poolctl's keys", []string{"--endpoint", refusing.endpoint, "stop", "web"}, exitReplyError, failReply, "program web not found", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := poolctl(t, append([]string{"--json"}, tc.args...)...)
			var got map[string]any
			if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || r.code != tc.code {
				t.Fatalf("want exit %d and one JSON object on stdout, got %v (%v)", tc.code, r, err)
			}
			reason, _ := got["reason"].(string)
			if got["status"] != "error" || got["errno"] != tc.errno || !strings.Contains(reason, tc.reason) {
				t.Errorf("stdout %v; want status error, errno %v, reason with %q", got, tc.errno, tc.reason)
			}
			if strings.Count(r.stdout, "\n") != 1 {
				t.Errorf("stdout %q: want one object on one line", r.stdout)
			}
			if got["error"] != tc.kind || got["exit_status"] != float64(tc.code) {
				t.Errorf("stdout %v; want error %q and exit_status %d", got, tc.kind, tc.code)
			}
		})
	}
}
