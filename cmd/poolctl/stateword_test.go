package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/poold/poold/watcher/proctest"
)

// TestStatusPrintsPooldsWord: poold's status reply gives Circus's word in
// status (statuses) and its own in state (states) since r65; poolctl
// prints poold's word where it printed the status before, so that its
// output, and the scripts that read it, do not change: a crash loop is
// "flapping", not the "active" Circus's tools read. From circusd (status
// alone) it prints that.
func TestStatusPrintsPooldsWord(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, reply, want string }{
		{"one", `{"status":"active","state":"flapping","time":1700000000,"reason":"wid 1 is flapping"}`,
			lines("flapping", "reason: wid 1 is flapping")},
		{"one, gave up, nothing runs", `{"status":"stopped","state":"failed","time":1700000000}`, lines("failed")},
		{"one, from circusd", `{"status":"active","time":1700000000}`, lines("active")},
		{"all", `{"status":"ok","statuses":{"crashy":"stopped","web":"active","x":"active"},"states":{"crashy":"failed","web":"flapping"}}`,
			lines(
				"WATCHER  STATUS",
				"crashy   failed",
				"web      flapping",
				"x        active")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := formatReply(&b, "status", decode(t, tc.reply)); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, b.String()); diff != "" {
				t.Errorf("output mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestStatusOfCrashLoopEndToEnd: against a real poold, poolctl status
// prints "flapping" for a crash loop, as before r65, while the reply's
// status (what circusctl prints) is Circus's "active".
func TestStatusOfCrashLoopEndToEnd(t *testing.T) {
	t.Parallel()
	p := startPooldWith(t, pooldConf{watchers: `
[watchers.crashy]
cmd = "/bin/sh"
args = ["-c", "exit 3"]
backoff_min = "1ms"
backoff_max = "5ms"
flapping_attempts = 2
flapping_window = "1m"
flapping_retry_in = "1h"
`})
	proctest.Eventually(t, "crashy flapping", func() bool {
		return strings.Contains(p.ctl(t, "status", "crashy").stdout, "is flapping")
	})
	if out := p.ctl(t, "status", "crashy").stdout; !strings.HasPrefix(out, "flapping\n") {
		t.Errorf("poolctl status crashy:\n%s\nwant flapping on the first line", out)
	}
	if out := p.ctl(t, "status").stdout; !strings.Contains(out, "\ncrashy   flapping ") {
		t.Errorf("poolctl status:\n%s\nwant crashy flapping", out)
	}
	js := p.ctl(t, "--json", "status", "crashy").stdout
	if !strings.Contains(js, `"status":"active"`) || !strings.Contains(js, `"state":"flapping"`) {
		t.Errorf("poolctl --json status crashy: %s\nwant status active, state flapping", js)
	}
}
