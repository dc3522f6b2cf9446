package zmqguard

import (
	"fmt"
	"net"
	"os"
)

// The next image's side of a hand-over of accepted connections (see
// freeze.go): InheritConn gives each back, before its endpoint listens;
// the Listen that takes its listener presents it to zmq4 as a connection
// just accepted, replaying the peer's handshake and swallowing zmq4's
// greeting and READY, which the peer had from the previous image.

// inheritedConn is a connection handed over, not taken yet.
type inheritedConn struct {
	conn net.Conn
	hs   []byte
}

// InheritConn gives the next Listen on network and addr (as Inherit
// names them) the accepted connection fd, whose peer sent handshake
// (greeting and READY). fd is taken (closed here on failure).
func InheritConn(network, addr string, fd int, handshake []byte) error {
	f := os.NewFile(uintptr(fd), "handed-over connection")
	c, err := net.FileConn(f) // a dup, close-on-exec
	f.Close()
	if err != nil {
		return fmt.Errorf("connection fd %d on %s %s: %w", fd, network, addr, err)
	}
	in := newStream(0)
	if err := in.scan(handshake); err != nil || !in.handshook() || in.consumed != int64(len(handshake)) {
		c.Close()
		return fmt.Errorf("connection fd %d on %s %s: its saved handshake is not a greeting and a READY command", fd, network, addr)
	}
	registry.mu.Lock()
	defer registry.mu.Unlock()
	k := listenKey(network, addr)
	registry.conns[k] = append(registry.conns[k], inheritedConn{conn: c, hs: handshake})
	return nil
}

// takeInheritedConns returns the connections handed over for key.
func takeInheritedConns(key string) []inheritedConn {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	cs := registry.conns[key]
	delete(registry.conns, key)
	return cs
}

// resumeConns hands l's inherited connections to zmq4, on a goroutine of
// l's: each as if it had just completed its handshake.
func (l *listener) resumeConns(cs []inheritedConn) {
	if len(cs) == 0 {
		return
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		for i, ic := range cs {
			in := newStream(uint64(l.g.opts.MaxFrame))
			if err := resumedHandshake(in, ic.hs); err != nil {
				l.g.handshakeFailed(ic.conn, fmt.Errorf("handed over by the previous poold: %w", err))
				ic.conn.Close()
				continue
			}
			buf := append([]byte(nil), ic.hs...)
			var peerID string
			if l.g.opts.TagPeers {
				peerID = l.g.peers.add(peerInfo(ic.conn))
				buf = setIdentity(buf, in.handshakeEnd, peerID)
			}
			c := newServerConn(l.g, ic.conn, in, buf, peerID, handshakeOf{key: l.key, hs: ic.hs, resumed: true})
			select {
			case l.ready <- c:
			case <-l.done:
				c.Close()
				for _, rest := range cs[i+1:] {
					rest.conn.Close()
				}
				return
			}
		}
	}()
}

// unclaimedConns closes the handed-over connections no Listen took
// (registry.mu held).
func unclaimedConns() {
	for k, cs := range registry.conns {
		for _, ic := range cs {
			ic.conn.Close()
		}
		delete(registry.conns, k)
	}
}

// resumedHandshake checks the handshake of a connection handed over at an
// upgrade, scanning it into in.
func resumedHandshake(in *stream, hs []byte) error {
	if err := in.scan(hs); err != nil {
		return err
	}
	if err := checkGreeting(hs); err != nil {
		return err
	}
	return checkReady(commandBody(hs[greetingLen:in.handshakeEnd]))
}
