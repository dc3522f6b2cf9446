package controller_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/poold/poold/arbiter/controller"
)

// TestClosedLineIsKeyValues: the INFO line at close gives the guard's
// counters as key/values, not a Go struct dump ("{Conns:0 ...
// PendingByPeer:map[]}") an operator cannot read or a log system parse.
func TestClosedLineIsKeyValues(t *testing.T) {
	var out bytes.Buffer
	c := controller.New(ipcEndpoint(t), newEcho().handle, hclog.New(&hclog.LoggerOptions{Level: hclog.Info, Output: &out}))
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- c.Run(ctx) }()
	select {
	case <-c.Ready():
	case err := <-errc:
		cancel()
		t.Fatalf("Run: %v", err)
	}
	mustStatus(t, dial(t, c.Endpoint()), "status")
	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("Run after cancel: %v", err)
	}
	var line string
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.Contains(l, "control endpoint closed") {
			line = l
		}
	}
	if line == "" {
		t.Fatalf("no 'control endpoint closed' line in:\n%s", out.String())
	}
	for _, bad := range []string{"{", "map[", "Conns:"} {
		if strings.Contains(line, bad) {
			t.Errorf("closed line %q holds a Go struct dump (%q)", line, bad)
		}
	}
	for _, want := range []string{"clients_open=", "handshake_timeouts=", "replies_dropped=", "clients_evicted="} {
		if !strings.Contains(line, want) {
			t.Errorf("closed line %q lacks %q", line, want)
		}
	}
}
