package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// When the control connection fails in its ZeroMQ handshake, poolctl
// looks at what answers at the endpoint to say what it is instead: a
// poold PUB endpoint (events or stats), an HTTP or TLS server (the
// console), or something else. The probe speaks just enough ZMTP 3.0
// (RFC 23) by hand: zmq4's handshake errors are not typed, and their text
// is not a contract.

// probeTimeout bounds each step of the probe. A ZeroMQ peer sends its
// greeting as soon as it accepts (poold's sockets, zmq4 and libzmq all
// do), so a local one answers within milliseconds; an HTTP server says
// nothing until it has a request line.
const probeTimeout = 500 * time.Millisecond

// zmtpGreeting is a ZMTP 3.0 greeting with the NULL mechanism, as a
// client; zmtpReady is the READY command of a DEALER, what poolctl is
// (poold's sockets read the client's READY before they send theirs).
var (
	zmtpGreeting = func() []byte {
		g := make([]byte, 64)
		g[0], g[9], g[10], g[11] = 0xff, 0x7f, 3, 0
		copy(g[12:32], "NULL")
		return g
	}()
	zmtpReady = func() []byte {
		body := "\x05READY\x0bSocket-Type\x00\x00\x00\x06DEALER"
		return append([]byte{0x04, byte(len(body))}, body...)
	}()
)

// silentBudget splits timeout between the dial and, when its handshake
// fails, the probe of what answers there (probeEndpoint): the probe gets
// a fifth of it, at most 2 × probeTimeout, and the dial the rest, so
// that a silent endpoint is given up within timeout. The probe came on
// top of the whole timeout: 6 s for the default 5 s.
func silentBudget(timeout time.Duration) (dial, probe time.Duration) {
	probe = min(timeout/5, 2*probeTimeout)
	return timeout - probe, probe
}

// probeEndpoint says what answers at a tcp:// or ipc:// endpoint that is
// not poold's control endpoint, with what to do; "" when it cannot tell
// (nothing answers in time, or a ZeroMQ ROUTER, which is what poold is).
// It ends within budget: the connect and the greeting get half of it
// each at most, a line for a web server what is left.
func probeEndpoint(endpoint string, budget time.Duration) string {
	deadline := time.Now().Add(budget)
	step := budget / 2
	network, addr := "tcp", ""
	switch {
	case strings.HasPrefix(endpoint, "tcp://"):
		addr = strings.TrimPrefix(endpoint, "tcp://")
	case strings.HasPrefix(endpoint, "ipc://"):
		network, addr = "unix", strings.TrimPrefix(endpoint, "ipc://")
	default:
		return ""
	}
	conn, err := net.DialTimeout(network, addr, step)
	if err != nil {
		return ""
	}
	defer conn.Close()
	head, err := exchange(conn, zmtpGreeting, 64, min(step, time.Until(deadline)))
	if len(head) == 0 && isTimeout(err) {
		// Silent, as a web server waiting for its request line: end
		// one (the greeting is not a valid one) to get its error reply.
		head, err = exchange(conn, []byte("\r\n"), 64, time.Until(deadline))
	}
	const use = "set --endpoint to poold's control endpoint, [arbiter] endpoint in its config"
	switch {
	case len(head) == 0 && err != nil && !isTimeout(err):
		return "it closed the connection without a ZeroMQ greeting: not a ZeroMQ endpoint (an HTTPS server?); " + use + ", or use --url https://HOST:PORT for poold's HTTPS API"
	case len(head) == 0:
		return ""
	case bytes.HasPrefix(head, []byte("HTTP/")):
		return "it answers HTTP, not ZeroMQ: a web server, such as poold's console or metrics address; " + use + ", or use --url for poold's HTTPS API"
	case head[0] == 0x15 || head[0] == 0x16: // TLS alert or handshake record
		return "it answers TLS, not ZeroMQ: an HTTPS server, such as poold's console; " + use + ", or use --url https://HOST:PORT for its API"
	case len(head) < 64 || head[0] != 0xff || head[9] != 0x7f:
		return fmt.Sprintf("it does not speak ZeroMQ (it sent %.40q); %s", head, use)
	}
	if _, err := conn.Write(zmtpReady); err != nil {
		return ""
	}
	switch typ := zmtpSocketType(conn); typ {
	case "", "ROUTER":
		return ""
	case "PUB", "XPUB":
		return "it is a ZeroMQ " + typ + " socket, as poold's event (pubsub_endpoint) and stats (stats_endpoint) endpoints are, not its control endpoint; " + use
	default:
		return "it is a ZeroMQ " + typ + " socket, not poold's control endpoint (a ROUTER); " + use
	}
}

// explainNotHTTP says what answers at hostport, given to --url, when it
// is a ZeroMQ socket (poold's control, event or stats endpoint), whose
// greeting net/http reports as a "malformed HTTP response" full of
// binary; "" when it is not ZeroMQ or cannot be told.
func explainNotHTTP(hostport string) string {
	const use = "set --url to poold's console, [web] address in its config"
	switch typ := zmqSocketAt(hostport); typ {
	case "":
		return ""
	case "ROUTER":
		return "it is a ZeroMQ ROUTER socket, as poold's control endpoint is, not its HTTP API: use --endpoint tcp://" + hostport + " for it, or " + use
	case "PUB", "XPUB":
		return "it is a ZeroMQ " + typ + " socket, as poold's event (pubsub_endpoint) and stats (stats_endpoint) endpoints are, not its HTTP API; " + use
	default:
		return "it is a ZeroMQ " + typ + " socket, not poold's HTTP API; " + use
	}
}

// zmqSocketAt returns the ZeroMQ socket type of what answers at the tcp
// address addr, "" when it does not answer ZeroMQ in time.
func zmqSocketAt(addr string) string {
	conn, err := net.DialTimeout("tcp", addr, probeTimeout)
	if err != nil {
		return ""
	}
	defer conn.Close()
	head, _ := exchange(conn, zmtpGreeting, 64, probeTimeout)
	if len(head) < 64 || head[0] != 0xff || head[9] != 0x7f {
		return ""
	}
	if _, err := conn.Write(zmtpReady); err != nil {
		return ""
	}
	if typ := zmtpSocketType(conn); typ != "" {
		return typ
	}
	return "unknown"
}

// exchange writes out, then reads up to n bytes, within limit; a
// deadline or the peer's close ends the read early.
func exchange(conn net.Conn, out []byte, n int, limit time.Duration) ([]byte, error) {
	_ = conn.SetDeadline(time.Now().Add(limit))
	if _, err := conn.Write(out); err != nil {
		return nil, err
	}
	buf := make([]byte, n)
	got, err := io.ReadFull(conn, buf)
	return buf[:got], err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// zmtpSocketType reads the peer's READY command (after its greeting) and
// returns its Socket-Type property, "" if it sends none.
func zmtpSocketType(r io.Reader) string {
	var hdr [2]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil || hdr[0]&0x04 == 0 {
		return ""
	}
	size := uint64(hdr[1])
	if hdr[0]&0x02 != 0 { // long: 8-byte size, of which hdr[1] is the first
		var rest [7]byte
		if _, err := io.ReadFull(r, rest[:]); err != nil {
			return ""
		}
		size = binary.BigEndian.Uint64(append(hdr[1:2:2], rest[:]...))
	}
	if size > 64<<10 {
		return ""
	}
	body := make([]byte, size)
	if _, err := io.ReadFull(r, body); err != nil {
		return ""
	}
	if len(body) < 6 || string(body[:6]) != "\x05READY" {
		return ""
	}
	for p := body[6:]; len(p) > 0; {
		klen := int(p[0])
		if len(p) < 1+klen+4 {
			return ""
		}
		key := string(p[1 : 1+klen])
		vlen := int(binary.BigEndian.Uint32(p[1+klen:]))
		p = p[1+klen+4:]
		if vlen > len(p) {
			return ""
		}
		if strings.EqualFold(key, "Socket-Type") {
			return string(p[:vlen])
		}
		p = p[vlen:]
	}
	return ""
}
