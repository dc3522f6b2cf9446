package main

import (
	"strings"
	"testing"
)

// A reload's reply carries only the warnings the last loaded file did
// not have, and counts the others (r67 supervisord trial F8): poolctl
// says that they still apply and where to see them all.
func TestConfigWarningsCountsKnownOnes(t *testing.T) {
	got := strings.Join(configWarnings(reply{"warnings": []any{"live.conf:14: [program:w] stopwaitsec: unknown"}, "warnings_known": 7.0}), "\n")
	want := "warning: live.conf:14: [program:w] stopwaitsec: unknown\n7 warning(s) of the last load still apply, not repeated ('poold --check FILE' lists every one)"
	if got != want {
		t.Errorf("configWarnings:\n%s\nwant:\n%s", got, want)
	}
}
