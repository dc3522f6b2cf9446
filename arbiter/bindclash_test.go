package arbiter

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/poold/poold/configs"
)

// TestStartNamesTheEndpointOnASocketsPort: a socket on the port of
// poold's own control endpoint (bound before the arbiter runs) failed at
// start with "another process is listening there"; it names the
// endpoint now.
func TestStartNamesTheEndpointOnASocketsPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0") // stands for the control endpoint
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	cfg := &configs.Config{Arbiter: configs.DefaultArbiter()}
	cfg.Arbiter.Endpoint = fmt.Sprintf("tcp://127.0.0.1:%d", port)
	s := tcpSocket("s")
	s.Host, s.Port = "127.0.0.1", port
	cfg.Sockets = []configs.Socket{s}
	err = New(cfg, Options{}).Run(context.Background())
	want := fmt.Sprintf("sockets: s: bind 127.0.0.1:%d: address already in use (poold's own arbiter.endpoint (tcp://127.0.0.1:%d) is bound to this port; give socket \"s\" or arbiter.endpoint another port)", port, port)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Run: %v\nwant it to contain %q", err, want)
	}
}
