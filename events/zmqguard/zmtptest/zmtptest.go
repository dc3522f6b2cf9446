// Package zmtptest drives a ZMTP 3.0 peer by hand over a raw net.Conn, for
// tests that need peers zmq4 cannot play: silent ones, ones that never
// read, ones that send malformed or oversized frames.
//
// A Peer is not safe for concurrent use, except that Close may be called
// from any goroutine.
package zmtptest

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// Peer is one raw connection.
type Peer struct {
	Conn net.Conn
	r    *bufio.Reader
}

// Dial connects without saying anything. readBuffer > 0 sets a small
// kernel receive buffer, so a peer that never reads fills up quickly.
func Dial(network, addr string, readBuffer int) (*Peer, error) {
	c, err := net.DialTimeout(network, addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	if readBuffer > 0 {
		switch rc := c.(type) {
		case *net.TCPConn:
			_ = rc.SetReadBuffer(readBuffer)
		case *net.UnixConn:
			_ = rc.SetReadBuffer(readBuffer)
		}
	}
	return &Peer{Conn: c, r: bufio.NewReader(c)}, nil
}

// New makes a peer of c, a connection made by the caller (from a chosen
// local address, say), without saying anything.
func New(c net.Conn) *Peer { return &Peer{Conn: c, r: bufio.NewReader(c)} }

// Close closes the connection.
func (p *Peer) Close() error { return p.Conn.Close() }

// Greeting is a ZMTP 3.0 NULL-mechanism greeting.
func Greeting() []byte {
	g := make([]byte, 64)
	g[0], g[9], g[10] = 0xFF, 0x7F, 3
	copy(g[12:32], "NULL")
	return g
}

// Ready encodes a READY command frame with Socket-Type and, when not
// empty, Identity.
func Ready(socketType, identity string) []byte {
	body := []byte{5}
	body = append(body, "READY"...)
	body = appendProp(body, "Socket-Type", socketType)
	if identity != "" {
		body = appendProp(body, "Identity", identity)
	}
	return Frame(0x04, body)
}

func appendProp(b []byte, k, v string) []byte {
	b = append(b, byte(len(k)))
	b = append(b, k...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
	return append(b, v...)
}

// Frame encodes one frame with the given flags (MORE 0x01, COMMAND 0x04);
// the LONG flag is added when needed.
func Frame(flags byte, body []byte) []byte {
	if len(body) > 255 {
		b := []byte{flags | 0x02}
		b = binary.BigEndian.AppendUint64(b, uint64(len(body)))
		return append(b, body...)
	}
	return append([]byte{flags, byte(len(body))}, body...)
}

// Message encodes a multipart message.
func Message(frames ...[]byte) []byte {
	var b []byte
	for i, f := range frames {
		var fl byte
		if i < len(frames)-1 {
			fl = 0x01
		}
		b = append(b, Frame(fl, f)...)
	}
	return b
}

// Handshake sends greeting and READY, then reads the other side's
// greeting and READY (within 5s).
func (p *Peer) Handshake(socketType, identity string) error {
	if _, err := p.Conn.Write(append(Greeting(), Ready(socketType, identity)...)); err != nil {
		return err
	}
	_ = p.Conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	defer p.Conn.SetReadDeadline(time.Time{})
	var g [64]byte
	if _, err := io.ReadFull(p.r, g[:]); err != nil {
		return fmt.Errorf("read greeting: %w", err)
	}
	if g[0] != 0xFF || g[9] != 0x7F {
		return errors.New("bad greeting from server")
	}
	flags, body, err := p.readFrame()
	if err != nil {
		return fmt.Errorf("read READY: %w", err)
	}
	if flags&0x04 == 0 || len(body) < 6 || string(body[1:6]) != "READY" {
		return fmt.Errorf("expected READY, got flags %#x body %q", flags, body)
	}
	return nil
}

// Send writes one multipart message.
func (p *Peer) Send(frames ...[]byte) error {
	_, err := p.Conn.Write(Message(frames...))
	return err
}

// Recv reads one multipart message, skipping commands.
func (p *Peer) Recv() ([][]byte, error) {
	var msg [][]byte
	for {
		flags, body, err := p.readFrame()
		if err != nil {
			return nil, err
		}
		if flags&0x04 != 0 {
			continue
		}
		msg = append(msg, body)
		if flags&0x01 == 0 {
			return msg, nil
		}
	}
}

func (p *Peer) readFrame() (byte, []byte, error) {
	flags, err := p.r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	var size uint64
	if flags&0x02 != 0 {
		var b [8]byte
		if _, err := io.ReadFull(p.r, b[:]); err != nil {
			return 0, nil, err
		}
		size = binary.BigEndian.Uint64(b[:])
	} else {
		b, err := p.r.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		size = uint64(b)
	}
	if size > 64<<20 {
		return 0, nil, fmt.Errorf("frame of %d bytes", size)
	}
	body := make([]byte, size)
	_, err = io.ReadFull(p.r, body)
	return flags, body, err
}

// WaitClosed reads and discards until the other side closes the
// connection or the timeout passes; it reports whether it closed.
func (p *Peer) WaitClosed(timeout time.Duration) bool {
	_ = p.Conn.SetReadDeadline(time.Now().Add(timeout))
	_, err := io.Copy(io.Discard, p.r)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}
