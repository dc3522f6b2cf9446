package zmqguard_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-zeromq/zmq4"

	"github.com/poold/poold/events/zmqguard"
)

// TagPeers: each connection gets the guard's own identity, whatever the
// client claimed, and Peer tells its SO_PEERCRED credentials; replies
// still reach the right client.
func TestTagPeersIdentityAndCredentials(t *testing.T) {
	g := zmqguard.New(zmqguard.Options{TagPeers: true})
	waitConnsClosed(t, g)
	dir, err := os.MkdirTemp("", "zg")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ep, _ := g.Endpoint("ipc://" + filepath.Join(dir, "r.sock"))
	router := zmq4.NewRouter(context.Background(), zmq4.WithLogger(quietLog()))
	t.Cleanup(func() { router.Close() })
	if err := router.Listen(ep); err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for i, body := range []string{"one", "two"} {
		// Both claim the same identity, and one claims a guard-like one.
		d := zmq4.NewDealer(context.Background(), zmq4.WithID(zmq4.SocketIdentity("\x00peer-1")), zmq4.WithLogger(quietLog()))
		t.Cleanup(func() { d.Close() })
		if err := d.Dial(ep); err != nil {
			t.Fatal(err)
		}
		if err := d.Send(zmq4.NewMsgString(body)); err != nil {
			t.Fatal(err)
		}
		msg, err := router.Recv()
		if err != nil {
			t.Fatal(err)
		}
		id := msg.Frames[0]
		if ids[string(id)] || string(id) == "\x00peer-1" && i == 1 {
			t.Fatalf("connection %d got identity %q: not the guard's own", i, id)
		}
		ids[string(id)] = true
		p, ok := g.Peer(id)
		if !ok || !p.HasCred || p.UID != uint32(os.Getuid()) || p.PID != int32(os.Getpid()) {
			t.Fatalf("Peer(%q) = %+v, %v; want our uid and pid", id, p, ok)
		}
		if err := router.Send(zmq4.NewMsgFrom(id, []byte("re:"+body))); err != nil {
			t.Fatal(err)
		}
		rep, err := d.Recv()
		if err != nil || string(rep.Frames[0]) != "re:"+body {
			t.Fatalf("reply to %s: %q %v", body, rep.Frames, err)
		}
	}
}

// PeerGone tells a transport that the client behind an identity hung up
// (a poolctl interrupted while it waited for a reload's answer): a ROUTER
// does not. Its channel closes once the connection closes; it is closed
// already for an identity no longer open, and nil without TagPeers.
func TestPeerGoneClosesWhenTheClientHangsUp(t *testing.T) {
	g := zmqguard.New(zmqguard.Options{TagPeers: true})
	waitConnsClosed(t, g)
	dir, err := os.MkdirTemp("", "zg")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ep, _ := g.Endpoint("ipc://" + filepath.Join(dir, "r.sock"))
	router := zmq4.NewRouter(context.Background(), zmq4.WithLogger(quietLog()))
	t.Cleanup(func() { router.Close() })
	if err := router.Listen(ep); err != nil {
		t.Fatal(err)
	}
	d := zmq4.NewDealer(context.Background(), zmq4.WithLogger(quietLog()))
	if err := d.Dial(ep); err != nil {
		t.Fatal(err)
	}
	if err := d.Send(zmq4.NewMsgString("reload")); err != nil {
		t.Fatal(err)
	}
	msg, err := router.Recv()
	if err != nil {
		t.Fatal(err)
	}
	gone := g.PeerGone(msg.Frames[0])
	select {
	case <-gone:
		t.Fatal("PeerGone closed while the client is connected")
	default:
	}
	d.Close()
	select {
	case <-gone:
	case <-time.After(30 * time.Second):
		t.Fatal("PeerGone not closed 30s after the client closed its connection")
	}
	if _, ok := g.Peer(msg.Frames[0]); ok {
		t.Error("Peer still knows the closed connection")
	}
	select {
	case <-g.PeerGone(msg.Frames[0]):
	default:
		t.Error("PeerGone of a closed connection's identity is not closed")
	}
	if c := zmqguard.New(zmqguard.Options{}).PeerGone([]byte("x")); c != nil {
		t.Error("PeerGone without TagPeers is not nil")
	}
}
