package zmqguard_test

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/go-zeromq/zmq4"
	"golang.org/x/sys/unix"

	"github.com/poold/poold/events/zmqguard"
	"github.com/poold/poold/watcher/proctest"
)

// silentConns opens n connections that never send a byte, and closes them
// when the test ends.
func silentConns(t testing.TB, n int, dial func() (net.Conn, error)) {
	t.Helper()
	for i := range n {
		c, err := dial()
		if err != nil {
			t.Fatalf("silent connection %d of %d: %v", i+1, n, err)
		}
		t.Cleanup(func() { c.Close() })
	}
}

// fromAddr dials tcp addr from the loopback address local.
func fromAddr(local, addr string) func() (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 10 * time.Second}
	return func() (net.Conn, error) { return d.Dial("tcp", addr) }
}

// silentConnsAsUID opens n silent ipc connections whose SO_PEERCRED uid is
// uid: they are made on a thread whose effective uid alone is changed
// (the raw syscall, unlike syscall.Setuid, touches one thread). The
// goroutine never unlocks that thread, so the runtime ends it when the
// goroutine returns and no other code ever runs with its credentials.
func silentConnsAsUID(t testing.TB, n, uid int, path string) {
	t.Helper()
	type result struct {
		conns []net.Conn
		err   error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		var r result
		if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, ^uintptr(0), uintptr(uid), ^uintptr(0)); e != 0 {
			r.err = fmt.Errorf("setresuid on one thread: %w", e)
			done <- r
			return
		}
		for range n {
			c, err := net.Dial("unix", path)
			if err != nil {
				r.err = err
				break
			}
			r.conns = append(r.conns, c)
		}
		done <- r
	}()
	r := <-done
	for _, c := range r.conns {
		t.Cleanup(func() { c.Close() })
	}
	if r.err != nil {
		t.Fatalf("silent connection as uid %d: %v", uid, r.err)
	}
}

// A crowd of silent connections from one peer keeps at most its share of
// pending handshakes; another peer's connections are not displaced by it
// and its subscriber gets through. The handshake timeout is an hour, so
// nothing expires during the test.
func TestSilentCrowdBoundedPerPeer(t *testing.T) {
	const crowd, own = 300, 10
	for _, tc := range []struct {
		name      string
		ep        string
		crowdPeer string
		ownPeer   string
		dialCrowd func(t *testing.T, addr net.Addr)
		needsRoot bool
		dialOwn   func(addr net.Addr) func() (net.Conn, error)
	}{
		{
			name: "tcp", ep: "tcp://127.0.0.1:0", crowdPeer: "ip:127.0.0.2", ownPeer: "ip:127.0.0.1",
			dialCrowd: func(t *testing.T, addr net.Addr) {
				silentConns(t, crowd, fromAddr("127.0.0.2", addr.String()))
			},
			dialOwn: func(addr net.Addr) func() (net.Conn, error) { return fromAddr("127.0.0.1", addr.String()) },
		},
		{
			// An abstract socket has no file, so the other uid may connect.
			name: "ipc", ep: fmt.Sprintf("ipc://@poold-zmqguard-crowd-%d", os.Getpid()),
			crowdPeer: "uid:65534", ownPeer: fmt.Sprintf("uid:%d", os.Geteuid()), needsRoot: true,
			dialCrowd: func(t *testing.T, addr net.Addr) {
				silentConnsAsUID(t, crowd, 65534, addr.String())
			},
			dialOwn: func(addr net.Addr) func() (net.Conn, error) {
				return func() (net.Conn, error) { return net.Dial("unix", addr.String()) }
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.needsRoot && os.Geteuid() != 0 {
				t.Skip("connecting as another uid needs root")
			}
			g := zmqguard.New(zmqguard.Options{HandshakeTimeout: time.Hour})
			perPeer := g.Options().MaxHandshakesPerPeer
			waitConnsClosed(t, g)
			pub, ep := newPub(t, g, tc.ep)

			tc.dialCrowd(t, pub.Addr())
			proctest.Eventually(t, "the guard to take in the whole crowd", func() bool {
				st := g.Stats()
				return st.Handshaking+int64(st.HandshakesEvicted) == crowd
			})
			silentConns(t, own, tc.dialOwn(pub.Addr()))
			proctest.Eventually(t, "the guard to take in the other peer's connections", func() bool {
				return g.Stats().Handshaking == int64(perPeer+own)
			})
			st := g.Stats()
			if st.PendingByPeer[tc.crowdPeer] != perPeer || st.PendingByPeer[tc.ownPeer] != own ||
				len(st.PendingByPeer) != 2 || st.HandshakesEvicted != crowd-uint64(perPeer) {
				t.Errorf("stats %+v: want %s holding %d (the rest evicted) and %s holding %d",
					st, tc.crowdPeer, perPeer, tc.ownPeer, own)
			}

			sub := newSub(t, g, ep, "")
			waitTopics(t, pub, "")
			proctest.Eventually(t, "subscriber next to the crowd to receive", func() bool {
				_ = pub.Send(zmq4.NewMsgFrom([]byte("x"), []byte("hello")))
				return sub.n.Load() > 0
			})
			if st := g.Stats(); st.PendingByPeer[tc.ownPeer] != own || st.PendingByPeer[tc.crowdPeer] != perPeer {
				t.Errorf("stats %+v: a connection was displaced by another peer", st)
			}
			t.Logf("stats: %+v", g.Stats())
		})
	}
}
