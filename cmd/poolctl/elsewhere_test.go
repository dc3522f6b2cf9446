package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestDefaultEndpointNamesAPooldAtAnotherDefault: poold under systemd
// (root, no XDG_RUNTIME_DIR) listens in /run/poold, while root's login
// shell has XDG_RUNTIME_DIR=/run/user/0, so a bare `poolctl status`
// dialled /run/user/0/poold/control.sock and said only "no such socket:
// is poold running? set --endpoint" while poold ran. It must name the
// socket a poold of this user listens on, and how to reach it.
func TestDefaultEndpointNamesAPooldAtAnotherDefault(t *testing.T) {
	p := startPoold(t)
	xdg := t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", xdg)
	t.Setenv("POOLCTL_ENDPOINT", "")
	t.Setenv("CIRCUSCTL_ENDPOINT", "")
	tried := filepath.Join(xdg, "poold", "control.sock")
	old := controlCandidates
	controlCandidates = func() []string {
		return []string{tried, strings.TrimPrefix(p.control, "ipc://")}
	}
	t.Cleanup(func() { controlCandidates = old })

	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"--timeout", "2s", "status"}, &stdout, &stderr)
	if code != 3 {
		t.Fatalf("exit %d, want 3 (unreachable); stderr: %s", code, stderr.String())
	}
	msg := stderr.String()
	for _, want := range []string{"ipc://" + tried, "--endpoint " + p.control, "POOLCTL_ENDPOINT=" + p.control} {
		if !strings.Contains(msg, want) {
			t.Errorf("poolctl's error lacks %q:\n%s", want, msg)
		}
	}

	// Told the endpoint, poolctl names no other.
	stderr.Reset()
	code = run(context.Background(), []string{"--timeout", "2s", "--endpoint", "ipc://" + tried, "status"}, &stdout, &stderr)
	if code != 3 || strings.Contains(stderr.String(), p.control) {
		t.Errorf("with --endpoint: exit %d, stderr %q; want 3 and no other endpoint named", code, stderr.String())
	}
}
