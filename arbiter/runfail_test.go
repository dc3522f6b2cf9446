package arbiter

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
)

// A command sent to an arbiter whose Run failed before its loop began (a
// socket it could not bind) is answered with an error, not held forever:
// Do waited on a loop that would never come, so a caller without a
// deadline (a test harness, a control connection) hung.
func TestDoAnswersOnceRunFailedBeforeItsLoop(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s := tcpSocket("s")
	s.Host, s.Port = "127.0.0.1", ln.Addr().(*net.TCPAddr).Port
	cfg := &configs.Config{Path: t.TempDir() + "/poold.toml", Arbiter: configs.DefaultArbiter(), Sockets: []configs.Socket{s}}
	a := New(cfg, Options{Log: hclog.NewNullLogger(), Events: events.NewBus(nil), NoCgroups: true})
	if err := a.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("Run: %v; want the bind's failure", err)
	}
	replied := make(chan Reply, 1)
	go func() { replied <- a.Do(context.Background(), Request{ID: "t", Command: "status"}) }()
	select {
	case r := <-replied:
		if r["status"] != "error" {
			t.Fatalf("status after a failed Run replied %v; want an error", r)
		}
	case <-time.After(hang):
		t.Fatalf("status after a failed Run: no reply within %v", hang)
	}
}
