package main

import (
	"strings"
	"testing"
)

// TestMissingProgramNamesPathOnce: a watcher whose program is not in
// PATH retries with backoff, and each attempt's warning repeated the
// whole PATH (35 lines of ~420 characters in a trial's 8.5 minutes). The
// log names PATH's value at the first attempt, then says "as logged
// before"; the status keeps the whole error.
func TestMissingProgramNamesPathOnce(t *testing.T) {
	p := startPoold(t, `
[arbiter]
ENDPOINTS
[watchers.missing]
cmd = "poold-no-such-program"
env = ["PATH=/nonexistent/bin:/nonexistent/sbin"]
`)
	p.waitLog(`worker could not be started.*watcher=missing`, 3)
	var full, short int
	for _, line := range strings.Split(p.log.String(), "\n") {
		if !strings.Contains(line, "worker could not be started") {
			continue
		}
		switch {
		case strings.Contains(line, `not found in PATH \"/nonexistent/bin:/nonexistent/sbin\" (`):
			full++
		case strings.Contains(line, `not found in PATH, as logged before (give the program's full path, or set PATH in env)`):
			short++
		default:
			t.Errorf("unexpected line: %s", line)
		}
	}
	if full != 1 || short < 2 {
		t.Errorf("%d lines name PATH's value, %d say it was logged before: want 1 and the rest (2 or more)", full, short)
	}
}
