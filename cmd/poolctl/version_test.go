package main

import (
	"bytes"
	"context"
	"testing"
)

// TestVersionFlag: poold --version prints its build, and the upgrade
// output names poold's versions; a user checking which poolctl a host has
// got "unknown flag: --version" (exit 2).
func TestVersionFlag(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"--version"}, &stdout, &stderr); code != 0 {
		t.Fatalf("poolctl --version: exit %d, stderr %q", code, stderr.String())
	}
	if got, want := stdout.String(), "poolctl "+version+"\n"; got != want {
		t.Errorf("poolctl --version printed %q, want %q", got, want)
	}
}
