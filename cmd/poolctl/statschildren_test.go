package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/poold/poold/watcher/proctest"
)

// TestStatsShowsChildren: a worker's children are listed under it,
// indented, as circusctl stats lists them; poolctl dropped them, so a
// gunicorn master's row was all `stats` showed of its pool.
func TestStatsShowsChildren(t *testing.T) {
	p := startPoold(t)
	p.ctl(t, "add", "--start", "wrapped", "/bin/sh", "-c", "sleep 1001 & sleep 1002 & wait")
	row := regexp.MustCompile(`(?m)^  └ \d+\s+sleeping .* sleep$`)
	var out string
	proctest.Eventually(t, "both children under the worker", func() bool {
		out = p.ctl(t, "stats", "wrapped").stdout
		return len(row.FindAllString(out, -1)) == 2
	})
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "PID") || !strings.HasSuffix(lines[1], " sh") {
		t.Errorf("stats wrapped printed:\n%s\nwant the header, the worker, then its two children", out)
	}
	all := p.ctl(t, "stats").stdout
	if n := len(regexp.MustCompile(`(?m)^\s+└ \d+\s+sleeping .* sleep$`).FindAllString(all, -1)); n != 2 {
		t.Errorf("stats of every watcher shows %d children, want 2:\n%s", n, all)
	}
}
