package main

import (
	"context"
	"fmt"
	"testing"

	"github.com/poold/poold/arbiter/controller/ctlclient"
	"github.com/poold/poold/watcher/proctest"
)

// TestAllowRemoteBindsAnyAddress: with allow_remote = true, as the README
// and --check allow, poold refused its own tcp://0.0.0.0 control endpoint
// at start ("refusing to bind ... not a loopback address"): the option
// never reached the controller (r49b review). It binds, and answers
// there (asked over loopback).
func TestAllowRemoteBindsAnyAddress(t *testing.T) {
	port, dir := proctest.FreePort(t), t.TempDir()
	p := startPooldIn(t, dir, fmt.Sprintf(`
[arbiter]
endpoint = "tcp://0.0.0.0:%d"
pubsub_endpoint = "ipc://%s/e.sock"
stats_endpoint = "ipc://%s/s.sock"
allow_remote = true
`, port, dir, dir), nil)
	p.waitLog(`poold started`, 1)
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	c, err := ctlclient.DialContext(ctx, fmt.Sprintf("tcp://127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if r := call(t, c, "numwatchers", nil); r["status"] != "ok" {
		t.Fatalf("numwatchers over the remote-allowed endpoint: %v", r)
	}
}
