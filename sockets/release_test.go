package sockets

import (
	"errors"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/poold/poold/configs"
)

// Released sockets leave the Set and refuse connections once no one else
// holds them; a unix socket's file stays until Close, which removes it
// and reports no error for the fds already closed.
func TestReleaseRefusesAndCloseRemovesFiles(t *testing.T) {
	u := unixSpec(t, "u")
	s, err := Bind([]configs.Socket{tcpSpec("t"), u, tcpSpec("kept")})
	if err != nil {
		t.Fatal(err)
	}
	tcpAddr := mustGet(t, s, "t").Addr()
	got, err := s.Release("t", "u", "nosuch")
	if err != nil || len(got) != 2 {
		t.Fatalf("Release = %d sockets, %v; want 2, nil", len(got), err)
	}
	if _, ok := s.Get("t"); ok {
		t.Error("a released socket is still in the Set")
	}
	if len(s.List()) != 1 {
		t.Errorf("List after Release: %d sockets, want 1 (kept)", len(s.List()))
	}
	for _, c := range []struct{ network, addr string }{{"tcp", tcpAddr}, {"unix", u.Path}} {
		if conn, err := net.Dial(c.network, c.addr); err == nil {
			conn.Close()
			t.Errorf("dial %s %s after Release succeeded; want refused", c.network, c.addr)
		} else if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("dial %s %s after Release: %v; want connection refused", c.network, c.addr, err)
		}
	}
	if _, err := os.Lstat(u.Path); err != nil {
		t.Errorf("unix socket file gone before Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close after Release: %v", err)
	}
	if _, err := os.Lstat(u.Path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("unix socket file left after Close: %v", err)
	}
}
