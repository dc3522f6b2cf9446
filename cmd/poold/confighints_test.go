package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
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
	t.Parallel()
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

// TestCheckOfACopyNamesTheRunningPoold: poold --check of a copy of a
// running poold's file, edited before it is put in place for a
// poolctl reloadconfig, said of each address "stop that process" (r64
// newcomer F7). It now says once that a running poold holds them and
// that poolctl reloadconfig applies a file there; a socket its worker
// inherited too counts as the poold's.
func TestCheckOfACopyNamesTheRunningPoold(t *testing.T) {
	dirA := t.TempDir()
	app := freeAddr(t)
	_, appPort, _ := net.SplitHostPort(app)
	pathA := writeConfig(t, dirA, "[arbiter]\nENDPOINTS\n[sockets.app]\nhost = \"127.0.0.1\"\nport = "+appPort+"\n"+
		"[watchers.w]\ncmd = \"/bin/sleep\"\nargs = [\"60\"]\nsockets = [\"app\"]\n")
	a := launchCmd(t, exec.Command(realPoold(t), pathA), dirA, pathA, nil)
	a.waitLog("poold started", 1)
	data, err := os.ReadFile(pathA)
	if err != nil {
		t.Fatal(err)
	}
	copyPath := filepath.Join(t.TempDir(), "copy.toml")
	if err := os.WriteFile(copyPath, data, 0o600); err != nil {
		t.Fatal(err)
	}
	out, _, code := runBin(t, os.Environ(), "--check", copyPath)
	want := copyPath + ": note: pid " + strconv.Itoa(a.cmd.Process.Pid) + " (" + realPoold(t) + " " + pathA + "), a running poold, holds 4 of the addresses of this file " +
		"(arbiter.endpoint, arbiter.pubsub_endpoint, arbiter.stats_endpoint, sockets.app): if this file is to replace the one that poold runs, put it in its place and run poolctl reloadconfig"
	if code != 0 || !strings.Contains(out, want) || strings.Contains(out, "stop ") || strings.Contains(out, "warning") {
		t.Errorf("--check of a copy: exit %d\n%s\nwant 0 and %q, no warning", code, out, want)
	}
}

// TestConsoleStartLineSaysAPIOff: with no API token the start line gave
// api=URL, where every request is refused "this poold has no API tokens"
// (r64 newcomer F9). It now says the API is off and which keys turn it
// on; with a token it gives the URL.
func TestConsoleStartLineSaysAPIOff(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ token, want string }{
		{"", `web console: url=http://\S+/ api="off \(no API token: set web.api_tokens or web.token, then reload\)"`},
		{"token = \"t0ken-of-this-test\"\n", `web console: url=http://(\S+)/ api=http://\S+/api/v1/`},
	} {
		p := startPoold(t, "[arbiter]\nENDPOINTS\n[web]\nenabled = true\naddress = \""+freeAddr(t)+"\"\n"+c.token)
		p.waitLog(c.want, 1)
		p.signal(syscall.SIGTERM)
		p.wait()
	}
}
