package main

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// A fleet of mixed versions (an older poold sends no READY) or of hosts
// with and without an elastic pool put a host's REASON under another's
// READY: each host's table has its own columns. The merged table has the
// union of them, a cell under its own heading, "-" where a host lacks one.
func TestFleetTableAlignsHostsWithDifferentColumns(t *testing.T) {
	t.Parallel()
	newer := decode(t, `{"status":"ok","statuses":{"web":"active"},"reasons":{},
		"sizes":{"web":{"current":4,"ready":4,"elastic":false}}}`)
	older := decode(t, `{"status":"ok","statuses":{"web":"flapping"},
		"reasons":{"web":"exited with status 1, 5 times in 10s"},"sizes":{"web":{"current":2,"elastic":false}}}`)
	res := []hostResult{
		{host: "10.0.0.11:8443", rep: newer},
		{host: "10.0.0.12:8443", rep: older},
		{host: "10.0.0.13:8443", err: errors.New("connection refused")},
	}
	var b bytes.Buffer
	a := &app{stdout: &b}
	if err := a.printFleet("status", res); err != nil {
		t.Fatal(err)
	}
	want := lines(
		"HOST            WATCHER  STATUS    READY  REASON",
		"10.0.0.11:8443  web      active    4/4",
		"10.0.0.12:8443  web      flapping  -      exited with status 1, 5 times in 10s",
		"10.0.0.13:8443  -        -         -      unreachable: connection refused")
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("fleet table (-want +got):\n%s\ngot:\n%s", diff, b.String())
	}
}
