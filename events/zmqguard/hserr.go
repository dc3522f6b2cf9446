package zmqguard

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"strings"
)

// The kinds of failed handshake an owner tells apart in its log
// (Options.OnHandshakeError); any other error there is a malformed
// handshake or frame from a peer that did speak ZMTP.
var (
	// ErrNotZMTP: the peer's first bytes are no ZMTP signature (an HTTP
	// or TLS client, a port scan, a program given the wrong port).
	ErrNotZMTP = errors.New("not a ZMTP greeting")
	// ErrUnsupportedGreeting: a ZMTP greeting asking for another version
	// (an older ZeroMQ) or a security mechanism other than NULL.
	ErrUnsupportedGreeting = errors.New("unsupported ZMTP greeting")
	// ErrClosedInHandshake: the peer began a valid greeting and closed
	// (or reset) the connection before finishing its handshake.
	ErrClosedInHandshake = errors.New("closed during the handshake")
	// ErrHandshakeTimeout: the peer did not complete its handshake
	// within Options.HandshakeTimeout (it sent nothing, or stalled).
	ErrHandshakeTimeout = errors.New("handshake not completed in time")
)

// httpMethods begin an HTTP/1.x request line (PRI: HTTP/2's preface).
var httpMethods = []string{"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE", "PRI"}

// describeNotZMTP says what the first bytes of a peer that does not speak
// ZMTP look like, from as many of them as were read.
func describeNotZMTP(b []byte) string {
	head := b[:min(len(b), 16)]
	switch {
	case len(b) >= 2 && b[0] == 0x16 && b[1] == 0x03:
		return "it begins like a TLS ClientHello (0x16 0x03): a TLS client"
	case bytes.HasPrefix(b, []byte("SSH-")):
		return fmt.Sprintf("it begins like an SSH client (%q)", head)
	}
	for _, m := range httpMethods {
		if bytes.HasPrefix(b, []byte(m+" ")) {
			line, _, _ := strings.Cut(string(b[:min(len(b), 64)]), "\r")
			return fmt.Sprintf("it begins like an HTTP request (%q)", line)
		}
	}
	return fmt.Sprintf("it begins with % x (%q), where ZMTP begins with 0xff and has 0x7f at byte 10", head, head)
}

// handshakeFailed counts a connection closed for a malformed handshake
// or frame (err) and tells OnHandshakeError.
func (g *Guard) handshakeFailed(rc net.Conn, err error) {
	g.handshakeErrors.Add(1)
	g.tellHandshake(rc, err)
}

// handshakeAbandoned counts a connection whose peer sent part of a valid
// handshake and then closed it (err: the EOF or reset), and tells
// OnHandshakeError.
func (g *Guard) handshakeAbandoned(rc net.Conn, err error) {
	g.abandoned.Add(1)
	g.tellHandshake(rc, fmt.Errorf("%w: %w", ErrClosedInHandshake, err))
}

// handshakeTimedOut counts a connection closed for not completing its
// handshake within HandshakeTimeout, having sent got bytes, and tells
// OnHandshakeError.
func (g *Guard) handshakeTimedOut(rc net.Conn, got int) {
	g.handshakeTimeouts.Add(1)
	what := "it sent nothing"
	switch {
	case got > 0 && got < greetingLen:
		what = fmt.Sprintf("it sent %d of the greeting's %d bytes", got, greetingLen)
	case got >= greetingLen:
		what = fmt.Sprintf("it sent its greeting and %d bytes after it, no complete READY command", got-greetingLen)
	}
	g.tellHandshake(rc, fmt.Errorf("%w (%s): %s", ErrHandshakeTimeout, g.opts.HandshakeTimeout, what))
}

func (g *Guard) tellHandshake(rc net.Conn, err error) {
	if f := g.opts.OnHandshakeError; f != nil {
		f(peerOf(rc), peerInfo(rc), err)
	}
}
