package arbiter

import (
	"net"
	"testing"

	"github.com/poold/poold/watcher/notify"
	"github.com/poold/poold/watcher/proctest"
)

// TestTCPConnsCountsThisPortOnly: the connections open on a listener's
// port, accepted or still queued, and none of another listener's.
func TestTCPConnsCountsThisPortOnly(t *testing.T) {
	for _, network := range []string{"tcp4", "tcp6"} {
		t.Run(network, func(t *testing.T) {
			host := "127.0.0.1:0"
			if network == "tcp6" {
				host = "[::1]:0"
			}
			l, err := net.Listen(network, host)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			other, err := net.Listen(network, host)
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()
			f, err := l.(*net.TCPListener).File()
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			for _, addr := range []string{l.Addr().String(), l.Addr().String(), l.Addr().String(), other.Addr().String()} {
				c, err := net.Dial(network, addr)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
			}
			s, err := l.Accept() // one accepted, two still queued
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			proctest.Eventually(t, "3 connections on the port", func() bool {
				n, err := tcpConns(int(f.Fd()))
				return err == nil && n == 3
			})
		})
	}
}

func TestBusyOf(t *testing.T) {
	for _, tc := range []struct {
		fields map[string]string
		n      int
		ok     bool
	}{
		{map[string]string{"BUSY": "3"}, 3, true},
		{map[string]string{"STATUS": "busy 2"}, 2, true},
		{map[string]string{"BUSY": "0", "STATUS": "busy 5"}, 0, true},
		{map[string]string{"STATUS": "serving"}, 0, false},
		{map[string]string{"BUSY": "-1"}, 0, false},
		{map[string]string{"READY": "1"}, 0, false},
	} {
		n, ok := busyOf(notify.Message{Fields: tc.fields})
		if n != tc.n || ok != tc.ok {
			t.Errorf("%v: %d %v, want %d %v", tc.fields, n, ok, tc.n, tc.ok)
		}
	}
}
