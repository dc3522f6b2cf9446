// Package sockdiag asks the kernel about sockets through
// NETLINK_SOCK_DIAG: the one netlink exchange that the arbiter (a
// pool's queued connections, the accept queue of a unix listener) and
// watcher/handover (does a worker hold an accepted connection) share.
//
// A TCP dump costs in proportion to the host's established hash, not to
// what it returns: whatever its state mask and port filter, the kernel
// (inet_diag_dump_icsk) visits every bucket of the established hash
// (tcp_ehash_entries, 262,144 on a 24 GB host) and every socket in it,
// TIME_WAIT included, and only then skips those that do not match; the
// listeners' dump walks their hash (at least 64K buckets) the same way.
// The filter saves the formatting and the copying, which /proc/net/tcp
// pays for every socket (on one loaded host, 13 ms a dump of held
// sockets where a read of /proc took 78 ms): callers should still dump
// rarely, and as few times as they can.
//
// Concurrency: no state; each call opens and closes its own socket.
package sockdiag

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// inet_diag (linux/inet_diag.h) and TCP states (linux/tcp_states.h).
const (
	sizeofInetReq = 56 // struct inet_diag_req_v2
	sizeofInetMsg = 72 // struct inet_diag_msg
	// NoCookie is an inet_diag or unix_diag request's cookie word when
	// it asks for no socket in particular.
	NoCookie = ^uint32(0)

	TCPFEstablished = 1 << 1
	TCPFSynRecv     = 1 << 3
	TCPFTimeWait    = 1 << 6
	TCPFCloseWait   = 1 << 8
	TCPFListen      = 1 << 10
	TCPFNewSynRecv  = 1 << 12
	TCPFAll         = 1<<13 - 1
)

// Open opens a NETLINK_SOCK_DIAG socket whose reads give up after a
// second: a kernel that does not answer must not block the caller.
func Open() (int, error) {
	nl, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return 0, fmt.Errorf("open NETLINK_SOCK_DIAG: %w", err)
	}
	if err := unix.SetsockoptTimeval(nl, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 1}); err != nil {
		unix.Close(nl)
		return 0, fmt.Errorf("sock_diag receive timeout: %w", err)
	}
	return nl, nil
}

// Send sends one request to the kernel on nl.
func Send(nl int, req []byte) error {
	if err := unix.Sendto(nl, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("sock_diag request: %w", err)
	}
	return nil
}

// Header is a netlink message header with its body, of a request for
// SOCK_DIAG_BY_FAMILY with flags, and room for a body of n bytes.
func Header(flags uint16, n int) []byte {
	le := binary.LittleEndian // netlink is host order; poold targets little-endian Linux
	b := make([]byte, unix.SizeofNlMsghdr+n)
	le.PutUint32(b[0:], uint32(len(b)))
	le.PutUint16(b[4:], unix.SOCK_DIAG_BY_FAMILY)
	le.PutUint16(b[6:], unix.NLM_F_REQUEST|flags)
	le.PutUint32(b[8:], 1) // seq
	return b
}

// ErrorReply is the error an NLMSG_ERROR (or a failed NLMSG_DONE) body
// carries: the negated errno in its first word.
func ErrorReply(body []byte) error {
	if len(body) >= 4 {
		if errno := int32(binary.LittleEndian.Uint32(body)); errno < 0 {
			return os.NewSyscallError("sock_diag", unix.Errno(-errno))
		}
	}
	return errors.New("sock_diag: error reply")
}

// InetSock is one socket of a TCP dump.
type InetSock struct {
	Family uint8
	Addr   [16]byte // local address (IPv4 in the first 4 bytes, the rest 0)
	Port   int      // local port
	Inode  uint64
}

// InetDump calls each for every TCP socket of family in states (a mask
// of TCPF_ bits) whose local port is sport (0: any).
func InetDump(family uint8, states uint32, sport int, each func(InetSock)) error {
	nl, err := Open()
	if err != nil {
		return err
	}
	defer unix.Close(nl)
	if err := Send(nl, inetRequest(family, states, sport)); err != nil {
		return err
	}
	buf := make([]byte, 32<<10)
	for {
		n, _, err := unix.Recvfrom(nl, buf, 0)
		if err != nil {
			return fmt.Errorf("sock_diag reply: %w", err)
		}
		if done, err := parseInetDump(buf[:n], each); err != nil || done {
			return err
		}
	}
}

// inetRequest is one inet_diag_req_v2 dump request.
func inetRequest(family uint8, states uint32, sport int) []byte {
	le := binary.LittleEndian
	b := Header(unix.NLM_F_DUMP, sizeofInetReq)
	r := b[unix.SizeofNlMsghdr:]
	r[0], r[1] = family, unix.IPPROTO_TCP
	le.PutUint32(r[4:], states)
	binary.BigEndian.PutUint16(r[8:], uint16(sport)) // id.idiag_sport
	le.PutUint32(r[48:], NoCookie)
	le.PutUint32(r[52:], NoCookie)
	return b
}

// parseInetDump calls each for the sockets of one read of a dump reply;
// done once NLMSG_DONE was seen. A dump the kernel ended with an error
// (NLMSG_DONE's errno) or marked inconsistent (NLM_F_DUMP_INTR: the
// table changed under it) is an error: the caller asks again later.
func parseInetDump(b []byte, each func(InetSock)) (done bool, err error) {
	le := binary.LittleEndian
	for len(b) >= unix.SizeofNlMsghdr {
		mlen, typ, flags := int(le.Uint32(b[0:])), le.Uint16(b[4:]), le.Uint16(b[6:])
		if mlen < unix.SizeofNlMsghdr || mlen > len(b) {
			return false, fmt.Errorf("sock_diag reply: bad length %d of %d", mlen, len(b))
		}
		if flags&unix.NLM_F_DUMP_INTR != 0 {
			return false, errors.New("sock_diag: dump interrupted (NLM_F_DUMP_INTR)")
		}
		body := b[unix.SizeofNlMsghdr:mlen]
		switch typ {
		case unix.NLMSG_DONE:
			if len(body) >= 4 && int32(le.Uint32(body)) < 0 {
				return false, ErrorReply(body)
			}
			return true, nil
		case unix.NLMSG_ERROR:
			return false, ErrorReply(body)
		case unix.SOCK_DIAG_BY_FAMILY:
			if len(body) >= sizeofInetMsg {
				s := InetSock{Family: body[0], Port: int(binary.BigEndian.Uint16(body[4:])), Inode: uint64(le.Uint32(body[68:]))}
				copy(s.Addr[:], body[8:24])
				if s.Family == unix.AF_INET {
					clear(s.Addr[4:]) // the kernel leaves only the first word
				}
				each(s)
			}
		}
		b = b[min((mlen+3)&^3, len(b)):]
	}
	return false, nil
}
