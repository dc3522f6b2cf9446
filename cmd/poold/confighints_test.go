package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/arbiter/controller/ctlclient"
)

// bothProblems is a watcher with a problem of the file (an unknown
// socket) and one of the machine (a program not installed).
const bothProblems = `
[watchers.api]
cmd = "poold-test-not-installed-anywhere"
sockets = ["go-api"]
`

// TestStartAndReloadListEveryProblem: a file with an unknown socket and
// a missing program got both from --check, but a start and a reload
// named only the socket; the program came at the next attempt, a second
// round trip (r64 newcomer F4). Both now list what --check lists, and
// the refused reload applies nothing.
func TestStartAndReloadListEveryProblem(t *testing.T) {
	dir := t.TempDir()
	path := writeConfig(t, dir, "[arbiter]\nENDPOINTS\n"+bothProblems)
	wants := []string{`watchers.api.sockets[0]: unknown socket "go-api"`, `"poold-test-not-installed-anywhere": not found in PATH`}
	_, stderr, code := runBin(t, os.Environ(), path)
	for _, want := range wants {
		if !strings.Contains(stderr, want) {
			t.Errorf("start: stderr lacks %q", want)
		}
	}
	if code != 78 || t.Failed() {
		t.Fatalf("start exit %d, want 78; stderr:\n%s", code, stderr)
	}

	const good = "[arbiter]\nENDPOINTS\n[watchers.web]\ncmd = @WORKER@\nenv = [\"POOLD_TEST_WORKER=serve\"]\n"
	p := startPoold(t, good)
	p.waitLog("poold started", 1)
	writeConfig(t, p.dir, good+bothProblems)
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	c, err := ctlclient.DialContext(ctx, "ipc://"+p.dir+"/c.sock")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r, err := c.Do(ctx, arbiter.Request{Command: "reloadconfig", Properties: map[string]any{"waiting": true}})
	for _, want := range wants {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("reloadconfig: %v %v; want an error naming %q", r, err, want)
		}
	}
	r, err = c.Do(ctx, arbiter.Request{Command: "list"})
	if err != nil || fmt.Sprint(r["watchers"]) != "[web]" {
		t.Errorf("watchers after the refused reload: %v %v, want only web", r["watchers"], err)
	}
}
