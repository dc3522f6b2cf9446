package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestPassedSocketOnAnEndpointIsNamed: a .socket unit that also listens
// on web.metrics_address (so that probes wait in its backlog across a
// restart) made poold exit 1 blaming itself: "poold itself holds it,
// outside its sockets: one of its endpoints ... is there". The socket
// systemd passed is what holds the address; the error now says so, and
// what to do.
func TestPassedSocketOnAnEndpointIsNamed(t *testing.T) {
	f, ln := passedListener(t)
	addr := ln.Addr().String()
	dir := t.TempDir()
	cfg := writeConfig(t, dir, fmt.Sprintf("[arbiter]\nENDPOINTS\n[web]\nmetrics_address = %q\n", addr))

	bin := pooldBinary(t) // built before the clock starts: a build under load takes seconds
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", `export LISTEN_PID=$$; exec "$0" "$@"`, bin, cfg)
	cmd.ExtraFiles = []*os.File{f}
	cmd.Env = append(os.Environ(), "LISTEN_FDS=1", "LISTEN_FDNAMES=metrics")
	out, err := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 1 {
		t.Fatalf("poold exited %d (%v), want 1:\n%s", code, err, out)
	}
	for _, want := range []string{
		"web.metrics_address: bind " + addr,
		`the service manager passed poold a socket there (fd 3 "metrics" (` + addr + `))`,
		"remove it from the .socket unit",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the start error does not say %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "poold itself") {
		t.Errorf("the start error blames poold's own endpoints for the passed socket:\n%s", out)
	}
}
