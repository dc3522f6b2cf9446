package sockets

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/poold/poold/configs"
)

// TestSameEndpointReadsTheAddress: two specs bind the same thing when
// their address is the same, however it is written.
func TestSameEndpointReadsTheAddress(t *testing.T) {
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	tcp := func(host string, port int) configs.Socket {
		s := configs.DefaultSocket("web")
		s.Family, s.Host, s.Port = "tcp", host, port
		return s
	}
	unix := func(path string) configs.Socket {
		s := configs.DefaultSocket("web")
		s.Family, s.Path = "unix", path
		return s
	}
	backlog := tcp("127.0.0.1", 8000)
	backlog.Backlog = 17
	for _, c := range []struct {
		a, b configs.Socket
		same bool
	}{
		{tcp("127.0.0.1", 8000), backlog, true},
		{tcp("127.0.0.1", 8000), tcp("localhost", 8000), true},
		{tcp("127.0.0.1", 8000), tcp("::ffff:127.0.0.1", 8000), true},
		{tcp("127.0.0.1", 8000), tcp("127.0.0.2", 8000), false},
		{tcp("127.0.0.1", 8000), tcp("localhost", 8001), false},
		{tcp("127.0.0.1", 8000), tcp("no-such-host.invalid", 8000), false},
		{unix("x.sock"), unix(filepath.Join(cwd, "x.sock")), false}, // bound anew, renamed over
		{unix("x.sock"), unix("y.sock"), false},
		{unix("@x"), unix("x"), false},
	} {
		if got := SameEndpoint(c.a, c.b); got != c.same {
			t.Errorf("SameEndpoint(%s %s:%d %s, %s %s:%d %s) = %t, want %t",
				c.a.Family, c.a.Host, c.a.Port, c.a.Path, c.b.Family, c.b.Host, c.b.Port, c.b.Path, got, c.same)
		}
	}
}
