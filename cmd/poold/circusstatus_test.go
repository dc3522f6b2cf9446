package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/poold/poold/watcher/proctest"
)

// circusStatusConfig: crashy's worker exits at once, over and over; its
// slot pauses for an hour after two early deaths (flapping), and gives
// up at the next streak, which never comes within the test.
const circusStatusConfig = `
[arbiter]
ENDPOINTS
[watchers.crashy]
cmd = "/bin/sh"
args = ["-c", "exit 3"]
backoff_min = "1ms"
backoff_max = "5ms"
flapping_attempts = 2
flapping_window = "1m"
flapping_retry_in = "1h"
[watchers.other]
cmd = "/bin/sleep"
args = ["3600"]
graceful_timeout = "1s"
`

// TestCircusctlStatusOfCrashLoop: the real circusctl reads "active" for a
// watcher in a crash loop, as from circusd, which keeps respawning one
// (r65 protocol trial F1: circusd answered {"status": "active"} where
// poold answered "flapping", then "failed", so `circusctl status crashy
// | grep active` or a dashboard that maps Circus's four words took a
// pool for down). poold's finer word comes in the reply's state.
func TestCircusctlStatusOfCrashLoop(t *testing.T) {
	circusPeer(t)
	p := startPoold(t, circusStatusConfig)
	c := dialControl(t, p)
	proctest.Eventually(t, "crashy flapping", func() bool {
		reason, _ := call(t, c, "status", map[string]any{"name": "crashy"})["reason"].(string)
		return strings.Contains(reason, "is flapping")
	})
	if r := call(t, c, "status", map[string]any{"name": "crashy"}); r["status"] != "active" || r["state"] != "flapping" {
		t.Errorf("status crashy: %v; want status active (Circus's word), state flapping", r)
	}
	steps := []struct {
		args []string
		want string
	}{
		{[]string{"status", "crashy"}, `^active$`},
		{[]string{"status"}, `^crashy: active\nother: active$`},
	}
	lines := make([][]string, len(steps))
	for i, s := range steps {
		lines[i] = s.args
	}
	for i, r := range circusctlBatch(t, ctlEndpoint(p), lines) {
		if r.code != 0 || !regexp.MustCompile(steps[i].want).MatchString(r.out) {
			t.Errorf("circusctl %s: exit %d, output:\n%s\nwant exit 0 and output matching %q", strings.Join(steps[i].args, " "), r.code, r.out, steps[i].want)
		}
	}
}
