package zmqguard_test

import (
	"fmt"
	"maps"
	"os"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/poold/poold/events/zmqguard"
	"github.com/poold/poold/events/zmqguard/zmtptest"
	"github.com/poold/poold/watcher/proctest"
)

// dealerFrom is a handshaken raw DEALER of tcp addr, from loopback local.
func dealerFrom(t *testing.T, local, addr string) *zmtptest.Peer {
	t.Helper()
	c, err := fromAddr(local, addr)()
	if err != nil {
		t.Fatal(err)
	}
	p := zmtptest.New(c)
	t.Cleanup(func() { p.Close() })
	if err := p.Handshake("DEALER", ""); err != nil {
		t.Fatalf("handshake from %s: %v", local, err)
	}
	return p
}

// dealerAsUID is a handshaken raw DEALER of the unix socket path whose
// SO_PEERCRED uid is uid (connected from a thread whose effective uid
// alone is changed; the runtime ends that thread with its goroutine).
func dealerAsUID(t *testing.T, uid int, path string) *zmtptest.Peer {
	t.Helper()
	type result struct {
		p   *zmtptest.Peer
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, ^uintptr(0), uintptr(uid), ^uintptr(0)); e != 0 {
			done <- result{err: fmt.Errorf("setresuid on one thread: %w", e)}
			return
		}
		p, err := zmtptest.Dial("unix", path, 0)
		done <- result{p, err}
	}()
	r := <-done
	if r.err != nil {
		t.Fatalf("connect as uid %d: %v", uid, r.err)
	}
	t.Cleanup(func() { r.p.Close() })
	if err := r.p.Handshake("DEALER", ""); err != nil {
		t.Fatalf("handshake as uid %d: %v", uid, err)
	}
	return r.p
}

// waitHeld waits until g holds exactly want per peer.
func waitHeld(t *testing.T, g *zmqguard.Guard, want map[string]int) {
	t.Helper()
	if !proctest.Poll(time.Minute, func() bool { return maps.Equal(g.Stats().ConnsByPeer, want) }) {
		t.Fatalf("connections held per peer %v, want %v", g.Stats().ConnsByPeer, want)
	}
}

// At the total bound a newcomer from a third peer is taken: the peer
// holding the most (of equals, the one that came first) loses its
// connection quiet the longest; a peer under its share keeps its own.
func TestHeldTotalBoundTakesNewcomer(t *testing.T) {
	addr := freePort(t)
	g := zmqguard.New(zmqguard.Options{MaxConns: 8, MaxConnsPerPeer: 4})
	newRouter(t, g, "tcp://"+addr)
	var two, three []*zmtptest.Peer
	for range 4 {
		two = append(two, dealerFrom(t, "127.0.0.2", addr))
	}
	for range 4 {
		three = append(three, dealerFrom(t, "127.0.0.3", addr))
	}
	waitHeld(t, g, map[string]int{"ip:127.0.0.2": 4, "ip:127.0.0.3": 4})
	dealerFrom(t, "127.0.0.4", addr)
	dealerFrom(t, "127.0.0.4", addr)
	waitHeld(t, g, map[string]int{"ip:127.0.0.2": 3, "ip:127.0.0.3": 3, "ip:127.0.0.4": 2})
	if st := g.Stats(); st.ConnsEvicted != 2 {
		t.Errorf("ConnsEvicted %d, want 2", st.ConnsEvicted)
	}
	for _, p := range []*zmtptest.Peer{two[0], three[0]} {
		if !p.WaitClosed(10 * time.Second) {
			t.Error("the oldest quiet connection of the peer holding the most is still open")
		}
	}
}

// At a peer's bound its idle connection makes room before one whose
// request is still being served, even a quieter one.
func TestHeldPeerBoundSparesABusyConnection(t *testing.T) {
	addr := freePort(t)
	g := zmqguard.New(zmqguard.Options{MaxConnsPerPeer: 2})
	r := newRouter(t, g, "tcp://"+addr)
	busy := dealerFrom(t, "127.0.0.2", addr)
	if err := busy.Send([]byte("slow")); err != nil {
		t.Fatal(err)
	}
	recvFrom(t, r, "slow") // not answered yet
	idle := dealerFrom(t, "127.0.0.2", addr)
	roundTrip(t, r, idle, "quick") // answered: idle, not just handshaken
	dealerFrom(t, "127.0.0.2", addr)
	if !idle.WaitClosed(10 * time.Second) {
		t.Fatal("the idle connection is still open at the peer's bound")
	}
	waitHeld(t, g, map[string]int{"ip:127.0.0.2": 2})
}

// On ipc, poold's own uid (and root) has no bound of its own, and gets
// in even when another uid fills its share and the total is reached:
// then it gives up its own quietest connection.
func TestHeldOwnUIDAlwaysGetsIn(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test connects as uid 65534 and needs root")
	}
	// An abstract socket: no directory for uid 65534 to enter.
	path := fmt.Sprintf("@poold-held-%d", os.Getpid())
	g := zmqguard.New(zmqguard.Options{MaxConns: 8, MaxConnsPerPeer: 2})
	newRouter(t, g, "ipc://"+path)
	me := fmt.Sprintf("uid:%d", os.Geteuid())
	for range 3 {
		dealerAsUID(t, 65534, path)
	}
	var mine []*zmtptest.Peer
	for range 6 {
		mine = append(mine, dealerAsUID(t, os.Geteuid(), path))
	}
	waitHeld(t, g, map[string]int{"uid:65534": 2, me: 6})
	dealerAsUID(t, os.Geteuid(), path)
	waitHeld(t, g, map[string]int{"uid:65534": 2, me: 6})
	if !mine[0].WaitClosed(10 * time.Second) {
		t.Error("at the total bound, the own uid's quietest connection is still open")
	}
	if st := g.Stats(); st.ConnsEvicted != 2 {
		t.Errorf("ConnsEvicted %d, want 2 (one for uid 65534's bound, one for the total)", st.ConnsEvicted)
	}
}

// Connections handed over by the previous image count toward the bounds
// as the ones accepted do.
func TestHeldCountsHandedOverConnections(t *testing.T) {
	addr := freePort(t)
	g1 := zmqguard.New(zmqguard.Options{})
	r1 := newRouter(t, g1, "tcp://"+addr)
	for i := range 3 {
		p := dealer(t, addr)
		msg := fmt.Sprintf("m%d", i)
		if err := p.Send([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		recvFrom(t, r1, msg)
	}
	thaw := g1.Freeze()
	defer thaw()
	proctest.Eventually(t, "every connection parked", g1.Parked)
	h := g1.HandOff()
	if len(h.Conns) != 3 {
		t.Fatalf("HandOff: %d conns, want 3", len(h.Conns))
	}
	lfd, ok := zmqguard.Listening()["tcp "+addr]
	if !ok {
		t.Fatalf("Listening() has no tcp %s", addr)
	}
	zmqguard.Inherit("tcp", addr, handOverListener(t, lfd))
	for _, hc := range h.Conns {
		if err := zmqguard.InheritConn("tcp", addr, hc.FD, hc.Handshake); err != nil {
			t.Fatal(err)
		}
	}
	g2 := zmqguard.New(zmqguard.Options{MaxConnsPerPeer: 2})
	newRouter(t, g2, "tcp://"+addr)
	// The three are taken one after another: two held is not yet the
	// third's eviction, so wait for that.
	proctest.Eventually(t, "the third handed-over connection evicted", func() bool { return g2.Stats().ConnsEvicted >= 1 })
	waitHeld(t, g2, map[string]int{"ip:127.0.0.1": 2})
	if st := g2.Stats(); st.ConnsEvicted != 1 {
		t.Errorf("ConnsEvicted %d, want 1", st.ConnsEvicted)
	}
}
