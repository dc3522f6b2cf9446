package controller

import (
	"errors"
	"fmt"
	"time"

	"github.com/poold/poold/events/zmqguard"
)

// HandshakeLogEvery is how often at most a failed handshake of one kind,
// or a request over the limit, is logged: the others meanwhile are
// counted in the next line (and in the handshake_errors,
// handshakes_abandoned or oversized of the endpoint's closing line).
const HandshakeLogEvery = 10 * time.Second

// handshakeError logs a client closed during its ZMTP handshake, at most
// once per HandshakeLogEvery for the whole endpoint and kind: a scanner
// on a tcp endpoint, from many addresses, costs one line, not one per
// connection. A client that hung up mid-handshake (it gave up or exited)
// is logged at info, since nothing was wrong with what it sent; a peer
// that is no ZeroMQ client, one asking for what poold does not speak, one
// that did not finish its handshake in time, and a malformed handshake at
// warn, each with its own hint.
func (c *Controller) handshakeError(key string, p zmqguard.Peer, err error) {
	kind, msg := "malformed", "control connection closed: its ZeroMQ handshake or framing was malformed; "+
		"is it a ZeroMQ client (ZMTP 3, NULL security) of this endpoint?"
	switch {
	case errors.Is(err, zmqguard.ErrClosedInHandshake):
		kind, msg = "closed", "control connection closed during its ZeroMQ handshake: the client hung up before finishing it "+
			"(it gave up, timed out or exited); nothing to do unless that client reports an error"
	case errors.Is(err, zmqguard.ErrNotZMTP):
		kind, msg = "notzmtp", "control connection closed: the client does not speak ZeroMQ (a port scan, an HTTP or TLS client, "+
			"or a program given this port by mistake?); point it at the right port, or keep it off this endpoint"
	case errors.Is(err, zmqguard.ErrHandshakeTimeout):
		kind, msg = "timeout", "control connection closed: its ZeroMQ handshake did not finish in time; a client stuck or starved "+
			"(an overloaded host?), or a connection held open by something that is no ZeroMQ client: find it by its peer (a pid, or ss -tnp for a tcp address)"
	case errors.Is(err, zmqguard.ErrUnsupportedGreeting):
		kind, msg = "unsupported", "control connection closed: its ZeroMQ greeting asks for what poold does not speak; "+
			"use a ZeroMQ library speaking ZMTP 3 (libzmq 4.0 or later) with NULL security (no CURVE or PLAIN)"
	}
	ok, suppressed := c.badHandshakes.Allow(kind)
	if !ok {
		return
	}
	args := []any{"endpoint", c.loggedEndpoint(), "peer", peerField(p), "peer_key", key, "reason", err, "suppressed", suppressed}
	if kind == "closed" {
		c.log.Info(msg, args...)
		return
	}
	c.log.Warn(msg, args...)
}

// oversized logs a client closed for a request over MaxRequest, which
// it cannot be told, throttled as handshakeError's kinds: it names the
// peer as precisely as those, so that the client can be found and fixed.
func (c *Controller) oversized(key string, p zmqguard.Peer) {
	ok, suppressed := c.badHandshakes.Allow("oversized")
	if !ok {
		return
	}
	c.log.Warn("control connection closed: a request over the limit; send less (fewer or shorter args, env)",
		"endpoint", c.loggedEndpoint(), "peer", peerField(p), "peer_key", key, "limit_bytes", MaxRequest, "suppressed", suppressed)
}

// loggedEndpoint is the endpoint as bound (tcp port 0 names its real
// port), or as configured before the bind.
func (c *Controller) loggedEndpoint() string {
	if ep := c.Endpoint(); ep != "" {
		return ep
	}
	return c.endpoint
}

// peerField names the peer of a connection as precisely as the log can:
// ip:port on tcp, so it can be tied to a process (ss -tp), and the
// kernel's credentials on ipc.
func peerField(p zmqguard.Peer) string {
	switch {
	case p.HasCred:
		return fmt.Sprintf("pid %d uid %d", p.PID, p.UID)
	case p.Addr != "":
		return p.Addr
	}
	return p.Network
}
