package zmqguard

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// ZMTP 3.0 wire constants (https://rfc.zeromq.org/spec/23/).
const (
	greetingLen = 64

	flagMore    = 0x01
	flagLong    = 0x02
	flagCommand = 0x04

	// maxFramesPerMessage bounds the frames of one multipart message, so a
	// peer cannot make zmq4 collect an endless list of empty frames.
	maxFramesPerMessage = 64
)

// nullGreeting is the exact greeting zmq4 sends with NULL security: the
// signature, version 3.0, mechanism "NULL", as-server 0, zero filler.
var nullGreeting = func() [greetingLen]byte {
	var g [greetingLen]byte
	g[0] = 0xFF
	g[9] = 0x7F
	g[10] = 3
	copy(g[12:32], "NULL")
	return g
}()

var (
	errFrameTooLarge = errors.New("frame too large")
	errBadGreeting   = errors.New("bad ZMTP greeting")
	errBadHandshake  = errors.New("bad ZMTP handshake")
	errBadFrame      = errors.New("bad ZMTP frame")
)

// checkGreeting accepts what zmq4 would accept, and only the NULL mechanism
// (the only one poold speaks). g may be a prefix of the greeting: what it
// holds is checked, so bytes that are no ZMTP are refused at the first
// read rather than after 64 bytes or the peer's close. Its errors wrap
// ErrNotZMTP or ErrUnsupportedGreeting.
func checkGreeting(g []byte) error {
	if len(g) > 0 && g[0] != 0xFF || len(g) > 9 && g[9] != 0x7F {
		return fmt.Errorf("%w: %s", ErrNotZMTP, describeNotZMTP(g))
	}
	if len(g) > 10 && g[10] < 3 {
		return fmt.Errorf("%w: ZMTP version byte %d, need 3 (a ZeroMQ library older than libzmq 4.0?)", ErrUnsupportedGreeting, g[10])
	}
	if len(g) < 32 {
		return nil
	}
	if mech := string(bytes.TrimRight(g[12:32], "\x00")); mech != "NULL" {
		return fmt.Errorf("%w: security mechanism %q, only NULL is supported", ErrUnsupportedGreeting, mech)
	}
	return nil
}

// checkReady validates a READY command body (name, then properties of
// 1-byte name length, name, 4-byte value length, value) with full bounds
// checks: zmq4's own parser indexes past the end of a truncated property
// and panics.
func checkReady(body []byte) error {
	if len(body) < 1 || int(body[0]) > len(body)-1 {
		return fmt.Errorf("%w: truncated command", errBadHandshake)
	}
	name := string(body[1 : 1+int(body[0])])
	if name != "READY" {
		return fmt.Errorf("%w: first command is %q, want READY", errBadHandshake, name)
	}
	p := body[1+int(body[0]):]
	for len(p) > 0 {
		klen := int(p[0])
		if klen == 0 || 1+klen+4 > len(p) {
			return fmt.Errorf("%w: truncated READY property", errBadHandshake)
		}
		vlen := binary.BigEndian.Uint32(p[1+klen:])
		rest := uint64(len(p) - (1 + klen + 4))
		if uint64(vlen) > rest {
			return fmt.Errorf("%w: truncated READY property value", errBadHandshake)
		}
		p = p[1+klen+4+int(vlen):]
	}
	return nil
}

// stream follows one direction of a ZMTP byte stream (greeting, then
// frames) without buffering it, so the guard knows frame sizes and message
// boundaries before zmq4 sees them.
type stream struct {
	max uint64 // frame and message size cap; 0 = no cap

	greetLeft int // greeting bytes still to pass
	state     int
	flags     byte
	size      [8]byte
	sizeHave  int
	sizeNeed  int
	bodyLeft  uint64
	inMsg     bool // a MORE frame was seen: the message continues
	msgBytes  uint64
	msgFrames int

	// consumed counts every byte stepped over; handshakeEnd is its value
	// when the first command frame (READY) ended, 0 before.
	consumed     int64
	handshakeEnd int64
	// spoke: a whole frame came after the handshake (a subscriber's
	// first subscription, on a PUB); spokeAt is consumed at its end.
	spoke   bool
	spokeAt int64
	// msgs counts the whole messages (and commands) after the handshake.
	msgs uint64
}

const (
	stFlags = iota
	stSize
	stBody
)

func newStream(max uint64) *stream {
	return &stream{max: max, greetLeft: greetingLen}
}

// atMessageStart reports whether the next byte begins a new message.
func (s *stream) atMessageStart() bool {
	return s.greetLeft == 0 && s.state == stFlags && !s.inMsg
}

// handshook reports whether the greeting and the first command have passed.
func (s *stream) handshook() bool { return s.handshakeEnd > 0 }

// step consumes the leading part of b that belongs to the current parser
// state and returns its length (> 0 for a non-empty b).
func (s *stream) step(b []byte) (int, error) {
	if s.greetLeft > 0 {
		n := min(len(b), s.greetLeft)
		s.greetLeft -= n
		s.consumed += int64(n)
		return n, nil
	}
	switch s.state {
	case stFlags:
		s.flags = b[0]
		s.sizeHave = 0
		s.sizeNeed = 1
		if s.flags&flagLong != 0 {
			s.sizeNeed = 8
		}
		s.state = stSize
		s.consumed++
		return 1, nil
	case stSize:
		n := copy(s.size[s.sizeHave:s.sizeNeed], b)
		s.sizeHave += n
		s.consumed += int64(n)
		if s.sizeHave < s.sizeNeed {
			return n, nil
		}
		sz := uint64(s.size[0])
		if s.sizeNeed == 8 {
			sz = binary.BigEndian.Uint64(s.size[:])
		}
		if err := s.admit(sz); err != nil {
			return n, err
		}
		s.bodyLeft = sz
		s.state = stBody
		if sz == 0 {
			s.endFrame()
		}
		return n, nil
	default: // stBody
		n := int(min(uint64(len(b)), s.bodyLeft))
		s.bodyLeft -= uint64(n)
		s.consumed += int64(n)
		if s.bodyLeft == 0 {
			s.endFrame()
		}
		return n, nil
	}
}

// admit checks a frame header against the caps before its body is read.
func (s *stream) admit(sz uint64) error {
	isCmd := s.flags&flagCommand != 0
	if !s.handshook() && !isCmd {
		return fmt.Errorf("%w: first frame is not a command", errBadHandshake)
	}
	if isCmd && s.flags&flagMore != 0 {
		// ZMTP 3 forbids it; zmq4 would read on into the next frames as
		// one message, where the guard sees a message end (its count and
		// the boundary an upgrade stops a connection at).
		return fmt.Errorf("%w: a command frame with the MORE flag", errBadFrame)
	}
	if s.max == 0 {
		return nil
	}
	if sz > s.max {
		return fmt.Errorf("%w: %d bytes, limit %d", errFrameTooLarge, sz, s.max)
	}
	if isCmd {
		return nil
	}
	s.msgBytes += sz
	s.msgFrames++
	if s.msgBytes > s.max {
		return fmt.Errorf("%w: message of %d+ bytes, limit %d", errFrameTooLarge, s.msgBytes, s.max)
	}
	if s.msgFrames > maxFramesPerMessage {
		return fmt.Errorf("%w: more than %d frames in one message", errFrameTooLarge, maxFramesPerMessage)
	}
	return nil
}

func (s *stream) endFrame() {
	s.state = stFlags
	if !s.spoke && s.handshakeEnd != 0 {
		s.spoke, s.spokeAt = true, s.consumed
	}
	if s.flags&flagCommand != 0 {
		if s.handshakeEnd == 0 {
			s.handshakeEnd = s.consumed
		} else {
			s.msgs++
		}
		return
	}
	s.inMsg = s.flags&flagMore != 0
	if !s.inMsg {
		s.msgBytes, s.msgFrames = 0, 0
		s.msgs++
	}
}

// scan steps over all of b.
func (s *stream) scan(b []byte) error {
	for len(b) > 0 {
		n, err := s.step(b)
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}
