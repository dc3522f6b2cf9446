package main

import (
	"bytes"
	"strings"
	"testing"
)

// The usage names every signal poold answers and --version, which the
// README's upgrade section uses.
func TestUsageNamesSignalsAndVersion(t *testing.T) {
	var out bytes.Buffer
	if _, err := parseFlags([]string{"--bogus"}, &out); err == nil {
		t.Fatal("parseFlags(--bogus) succeeded")
	}
	for _, want := range []string{"SIGTERM", "SIGHUP", "SIGUSR1", "SIGUSR2", "poold --version"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage does not name %s:\n%s", want, out.String())
		}
	}
}
