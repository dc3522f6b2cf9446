package main

import (
	"strings"
	"testing"
)

// TestLogsHelpGivesTheWidRange: a rolling reload starts its new workers
// in wids above numprocesses (up to numprocesses+max_surge), and --wid
// selects those too, so the help must not bound N by numprocesses.
func TestLogsHelpGivesTheWidRange(t *testing.T) {
	t.Parallel()
	r := poolctl(t, "logs", "--help")
	if r.code != 0 {
		t.Fatalf("logs --help: %v", r)
	}
	if !strings.Contains(r.stdout, "1..numprocesses+max_surge") {
		t.Errorf("logs --help should give --wid's range as 1..numprocesses+max_surge (see README \"Slots and wids\"), got:\n%s", r.stdout)
	}
}
