package zmqguard

import (
	"encoding/binary"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Peer is what the guard knows of the other end of an accepted
// connection. On ipc it carries the kernel's SO_PEERCRED credentials: the
// pid, uid and gid the peer had when it connected, which it cannot forge.
type Peer struct {
	Network string // "unix" or "tcp"
	Addr    string // remote address (empty for an unnamed unix socket)
	HasCred bool   // PID, UID and GID are valid (ipc only)
	PID     int32
	UID     uint32
	GID     uint32
}

func (p Peer) String() string {
	if p.HasCred {
		return fmt.Sprintf("uid %d gid %d pid %d", p.UID, p.GID, p.PID)
	}
	return p.Network + " " + p.Addr
}

// peerTable maps the identities a Guard assigned (Options.TagPeers) to
// their peers, for as long as the connection lives.
type peerTable struct {
	seq atomic.Uint64
	mu  sync.Mutex
	m   map[string]tagged
}

// tagged is one open connection's peer, and a channel closed when the
// connection closes (PeerGone).
type tagged struct {
	Peer
	gone chan struct{}
}

func (t *peerTable) add(p Peer) string {
	id := fmt.Sprintf("\x00peer-%d", t.seq.Add(1))
	t.mu.Lock()
	if t.m == nil {
		t.m = make(map[string]tagged)
	}
	t.m[id] = tagged{Peer: p, gone: make(chan struct{})}
	t.mu.Unlock()
	return id
}

func (t *peerTable) remove(id string) {
	t.mu.Lock()
	if p, ok := t.m[id]; ok {
		close(p.gone)
		delete(t.m, id)
	}
	t.mu.Unlock()
}

// closedGone is PeerGone's answer for a connection already closed.
var closedGone = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// Peer returns the peer behind a ROUTER identity frame, when g tags peers
// (Options.TagPeers) and that connection is still open. The identity is
// the guard's, never the client's own: a client cannot pose as another.
func (g *Guard) Peer(identity []byte) (Peer, bool) {
	g.peers.mu.Lock()
	defer g.peers.mu.Unlock()
	p, ok := g.peers.m[string(identity)]
	return p.Peer, ok
}

// PeerGone returns a channel closed once the connection behind a ROUTER
// identity frame has closed (its peer hung up, was evicted or handed
// over), already closed when it is gone; nil (never closed) when g does
// not tag peers (Options.TagPeers), as it cannot tell then. A ROUTER
// itself does not say when a peer leaves: this is how a transport learns
// that nobody waits for a reply any more.
func (g *Guard) PeerGone(identity []byte) <-chan struct{} {
	if !g.opts.TagPeers {
		return nil
	}
	g.peers.mu.Lock()
	defer g.peers.mu.Unlock()
	if p, ok := g.peers.m[string(identity)]; ok {
		return p.gone
	}
	return closedGone
}

// peerInfo describes rc, with SO_PEERCRED on a unix socket.
func peerInfo(rc net.Conn) Peer {
	p := Peer{Network: rc.RemoteAddr().Network(), Addr: rc.RemoteAddr().String()}
	if uc, ok := rc.(*net.UnixConn); ok {
		if cred, ok := peerCred(uc); ok {
			p.HasCred, p.PID, p.UID, p.GID = true, cred.Pid, cred.Uid, cred.Gid
		}
	}
	return p
}

// peerCred reads the peer's credentials with SO_PEERCRED (those it had
// when it connected).
func peerCred(c *net.UnixConn) (*unix.Ucred, bool) {
	sc, err := c.SyscallConn()
	if err != nil {
		return nil, false
	}
	var cred *unix.Ucred
	var cerr error
	if err := sc.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil || cerr != nil {
		return nil, false
	}
	return cred, true
}

// setIdentity rewrites the handshake in buf (greeting, READY command
// ending at hsEnd, then whatever followed) so that the READY command's
// Identity property is id, whatever the peer sent. zmq4's ROUTER then
// labels every message of this connection with id. checkReady has
// validated the command.
func setIdentity(buf []byte, hsEnd int64, id string) []byte {
	frame := buf[greetingLen:hsEnd]
	body := commandBody(frame)
	nlen := int(body[0])
	out := make([]byte, 0, len(body)+len(id)+16)
	out = append(out, body[:1+nlen]...)
	p := body[1+nlen:]
	for len(p) > 0 {
		klen := int(p[0])
		vlen := int(binary.BigEndian.Uint32(p[1+klen:]))
		end := 1 + klen + 4 + vlen
		if !strings.EqualFold(string(p[1:1+klen]), "Identity") {
			out = append(out, p[:end]...)
		}
		p = p[end:]
	}
	out = append(out, byte(len("Identity")))
	out = append(out, "Identity"...)
	out = binary.BigEndian.AppendUint32(out, uint32(len(id)))
	out = append(out, id...)

	res := make([]byte, 0, len(buf)+len(id)+16)
	res = append(res, buf[:greetingLen]...)
	if len(out) <= 255 {
		res = append(res, flagCommand, byte(len(out)))
	} else {
		res = append(res, flagCommand|flagLong)
		res = binary.BigEndian.AppendUint64(res, uint64(len(out)))
	}
	res = append(res, out...)
	return append(res, buf[hsEnd:]...)
}
