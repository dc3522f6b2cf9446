package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/poold/poold/watcher/proctest"
)

// TestLogsEventsOfOneWatcher: `logs api --events` asked poold for the
// topics under watcher.api., a prefix that watcher "api.v2"'s share, and
// showed api.v2's starts as api's own; --wid was not applied to the
// events (r63 review M2).
func TestLogsEventsOfOneWatcher(t *testing.T) {
	t.Parallel()
	p := startPooldWith(t, pooldConf{watchers: `
[watchers.api]
cmd = "/bin/sh"
args = ["-c", "echo api-line; exec sleep 3600"]
[watchers."api.v2"]
cmd = "/bin/sh"
args = ["-c", "echo v2-line; exec sleep 3600"]
`})
	for _, w := range []string{"api", "api.v2"} {
		proctest.Eventually(t, w+"'s first line", func() bool { return strings.Contains(p.ctl(t, "logs", w).stdout, "-line") })
	}
	for _, w := range []string{"api", "api.v2"} {
		p.ctl(t, "incr", w)
		proctest.Eventually(t, w+"'s second worker's line", func() bool { return strings.Count(p.ctl(t, "logs", w).stdout, "-line") == 2 })
	}
	// Its end comes after its first line: shown by the first read (its
	// start, before that line, is not, as no worker's is).
	p.ctl(t, "decr", "api")
	proctest.Eventually(t, "api's second worker's end in the events", func() bool {
		return strings.Contains(p.ctl(t, "logs", "api", "--events", "-n", "20").stdout, "event| ")
	})
	for _, c := range []struct {
		args []string
		wid  int
	}{
		{[]string{"logs", "api", "--events", "-n", "20", "--json"}, 0},
		{[]string{"logs", "api", "--wid", "1", "--events", "-n", "20", "--json"}, 1},
	} {
		out := p.ctl(t, c.args...).stdout
		events := 0
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			var r logRecord
			if err := json.Unmarshal([]byte(l), &r); err != nil {
				t.Fatalf("poolctl %s printed %q: %v", strings.Join(c.args, " "), l, err)
			}
			if r.Stream == "event" {
				events++
			}
			if r.Watcher != "api" || (c.wid != 0 && r.Wid != c.wid) {
				t.Errorf("poolctl %s printed a record of %s's worker %d:\n%s", strings.Join(c.args, " "), r.Watcher, r.Wid, out)
			}
		}
		if c.wid == 0 && events == 0 {
			t.Errorf("poolctl %s printed no event (api's second worker ended):\n%s", strings.Join(c.args, " "), out)
		}
	}
}
