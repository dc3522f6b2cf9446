package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A new binary that cannot be run at all is refused with its path, why,
// and what to do about it.
func TestRunCheckSaysWhatToDoWithABinaryThatCannotRun(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name string, b []byte, mode os.FileMode) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	busy := write("busy", []byte("#!/bin/sh\nexit 0\n"), 0o755)
	f, err := os.OpenFile(busy, os.O_WRONLY, 0) // an install still writing it
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, c := range []struct {
		name, exe, want string
	}{
		{"missing", filepath.Join(dir, "missing"), "install the new poold at that path"},
		{"no interpreter", write("script", []byte("#!/nonexistent/sh\n"), 0o755), "check its #! interpreter"},
		{"not executable", write("plain", []byte("#!/bin/sh\nexit 0\n"), 0o644), "make it executable by poold's user"},
		{"not a program", write("garbage", []byte("\x7fELF garbage"), 0o755), "not a program this machine runs"},
		{"being written", busy, "it is being written"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := runCheck(context.Background(), hang, c.exe, nil, "--upgrade-check")
			if err == nil || !strings.Contains(err.Error(), c.exe) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("runCheck of %s: %v; want the path and %q", c.exe, err, c.want)
			}
		})
	}
}
