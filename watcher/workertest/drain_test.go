package workertest

import (
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	Main()
	os.Exit(m.Run())
}

// TestDrainAnswersARequestInPieces: the drain of mode "serve" closed a
// connection whose header it had read in part, as one that sent nothing,
// since net/http calls a connection active only once its whole header is
// in: the client's request was lost. Only a connection on which not a
// byte has come is closed now. The cases are sockets/worker's too.
func TestDrainAnswersARequestInPieces(t *testing.T) {
	for _, tc := range SplitCases {
		t.Run(tc.Name, func(t *testing.T) {
			l, sock := ListenerFile(t)
			w := StartActivated(t, []string{Env + "=serve"}, " serving", sock)
			if err := tc.Run(l.Addr().String(), func() error { return w.Process.Signal(syscall.SIGTERM) }); err != nil {
				t.Error(err)
			}
			if err := w.Wait(); err != nil {
				t.Errorf("worker %d's drain: %v", w.Process.Pid, err)
			}
		})
	}
}

// TestDrainClosesOnlyWhatSentNothing: the closing pass of the drain of
// mode "serve" closes a connection on which nothing has come, and keeps
// one whose request came, whole or in part, read by the server or still
// in the kernel (the case of a loaded machine). The cases are
// sockets/worker's too.
func TestDrainClosesOnlyWhatSentNothing(t *testing.T) {
	for _, tc := range SilentCases {
		t.Run(tc.Name, func(t *testing.T) {
			c := &conns{open: map[net.Conn]time.Time{}, changed: make(chan struct{})}
			err := tc.Run(SilentDrain{
				Listen: func(l net.Listener) net.Listener { return heardListener{l} },
				Track:  c.track,
				Pass:   func() { c.closeUnusedNow(0) },
				Unread: unread,
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
}

// TestDrainLooksAgainAtAConnectionItKept: a due connection the closing
// pass kept, its request having come, set no time for the next pass;
// with no other connection left, drain then waited for a change of
// state that a stalled client never makes. The pass now always says
// when to look again.
func TestDrainLooksAgainAtAConnectionItKept(t *testing.T) {
	c := &conns{open: map[net.Conn]time.Time{}, changed: make(chan struct{})}
	err := SilentCase{Send: "GET / HTTP/1.1\r\n"}.Run(SilentDrain{
		Listen: func(l net.Listener) net.Listener { return heardListener{l} },
		Track:  c.track,
		Pass: func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			if next := c.closeUnused(0); next < 0 {
				t.Errorf("the pass kept a connection and set no next look (%v)", next)
			}
		},
		Unread: unread,
	})
	if err != nil {
		t.Error(err)
	}
}

// TestHeardConnIsTheWorkerPackages: the code that tells a connection that
// sent nothing is the same here and in sockets/worker (conns.go), which
// users import; a fix to one is a fix to both.
func TestHeardConnIsTheWorkerPackages(t *testing.T) {
	tail := func(path string) string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		_, s, ok := strings.Cut(string(b), "// heardListener accepts")
		if !ok {
			t.Fatalf("%s: no heardListener", path)
		}
		return s
	}
	if tail("heard.go") != tail("../../sockets/worker/conns.go") {
		t.Error("heard.go and sockets/worker/conns.go differ from heardListener on: make the same change to both")
	}
}
