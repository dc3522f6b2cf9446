package arbiter

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// unix_diag (linux/unix_diag.h), which x/sys/unix does not define.
const (
	udiagShowRQLen = 0x10 // UDIAG_SHOW_RQLEN
	unixDiagRQLen  = 4    // UNIX_DIAG_RQLEN attribute
	sizeofUnixReq  = 24   // struct unix_diag_req
	sizeofUnixMsg  = 16   // struct unix_diag_msg
	noCookie       = ^uint32(0)
)

// unixQueue reads a listening unix socket's accept queue through
// NETLINK_SOCK_DIAG: for a listener, the kernel reports the connections
// waiting to be accepted as rqueue and the backlog limit as wqueue
// (UNIX_DIAG_RQLEN). The socket is looked up by its inode, so no dump of
// every socket on the host is needed.
func unixQueue(fd int) (length, limit int, err error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, 0, fmt.Errorf("fstat fd %d: %w", fd, err)
	}
	nl, err := diagSocket()
	if err != nil {
		return 0, 0, err
	}
	defer unix.Close(nl)
	req := unixDiagRequest(uint32(st.Ino))
	if err := unix.Sendto(nl, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return 0, 0, fmt.Errorf("sock_diag request: %w", err)
	}
	buf := make([]byte, 4096)
	n, _, err := unix.Recvfrom(nl, buf, 0)
	if err != nil {
		return 0, 0, fmt.Errorf("sock_diag reply: %w", err)
	}
	return parseUnixDiag(buf[:n], uint32(st.Ino))
}

// unixDiagRequest is one netlink message asking for the socket with inode
// ino, with its queue lengths.
func unixDiagRequest(ino uint32) []byte {
	le := binary.LittleEndian // netlink is host order; poold targets little-endian Linux
	b := make([]byte, unix.SizeofNlMsghdr+sizeofUnixReq)
	le.PutUint32(b[0:], uint32(len(b)))
	le.PutUint16(b[4:], unix.SOCK_DIAG_BY_FAMILY)
	le.PutUint16(b[6:], unix.NLM_F_REQUEST)
	le.PutUint32(b[8:], 1) // seq
	r := b[unix.SizeofNlMsghdr:]
	r[0] = unix.AF_UNIX
	le.PutUint32(r[4:], ^uint32(0)) // every state
	le.PutUint32(r[8:], ino)
	le.PutUint32(r[12:], udiagShowRQLen)
	le.PutUint32(r[16:], noCookie)
	le.PutUint32(r[20:], noCookie)
	return b
}

var errNoRQLen = errors.New("sock_diag reply has no UNIX_DIAG_RQLEN")

// parseUnixDiag reads the reply to unixDiagRequest.
func parseUnixDiag(b []byte, ino uint32) (length, limit int, err error) {
	le := binary.LittleEndian
	if len(b) < unix.SizeofNlMsghdr {
		return 0, 0, fmt.Errorf("sock_diag reply of %d bytes", len(b))
	}
	mlen, typ := int(le.Uint32(b[0:])), le.Uint16(b[4:])
	if mlen > len(b) || mlen < unix.SizeofNlMsghdr {
		return 0, 0, fmt.Errorf("sock_diag reply: bad length %d of %d", mlen, len(b))
	}
	body := b[unix.SizeofNlMsghdr:mlen]
	if typ == unix.NLMSG_ERROR {
		if len(body) >= 4 {
			if errno := int32(le.Uint32(body)); errno < 0 {
				return 0, 0, os.NewSyscallError("sock_diag", unix.Errno(-errno))
			}
		}
		return 0, 0, errors.New("sock_diag: error reply")
	}
	if typ != unix.SOCK_DIAG_BY_FAMILY || len(body) < sizeofUnixMsg {
		return 0, 0, fmt.Errorf("sock_diag reply: unexpected message type %d", typ)
	}
	if got := le.Uint32(body[4:]); got != ino {
		return 0, 0, fmt.Errorf("sock_diag reply for inode %d, asked %d", got, ino)
	}
	attrs := body[sizeofUnixMsg:]
	for len(attrs) >= 4 {
		alen, atyp := int(le.Uint16(attrs[0:])), le.Uint16(attrs[2:])
		if alen < 4 || alen > len(attrs) {
			break
		}
		if atyp == unixDiagRQLen && alen >= 12 {
			return int(le.Uint32(attrs[4:])), int(le.Uint32(attrs[8:])), nil
		}
		attrs = attrs[min((alen+3)&^3, len(attrs)):]
	}
	return 0, 0, errNoRQLen
}

// inet_diag (linux/inet_diag.h).
const (
	sizeofInetReq  = 56 // struct inet_diag_req_v2
	sizeofInetMsg  = 72 // struct inet_diag_msg
	tcpfEstablishd = 1 << 1
	tcpfCloseWait  = 1 << 8
)

// tcpConns counts the connections open on the port of the listening TCP
// socket fd (established or closing, accepted or still queued), through
// a NETLINK_SOCK_DIAG dump filtered to that port. The filter only makes
// the reply short: the kernel (inet_diag_dump_icsk) still walks every
// bucket of the host's established hash, so one call costs in proportion
// to tcp_ehash_entries (about 1.4 ms on a 24 GB host with 262,144
// buckets), not to this socket's connections. Call it rarely
// (demandcount.go). The same netlink exchange as unixQueue.
func tcpConns(fd int) (int, error) {
	inetDumps.Add(1)
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return 0, fmt.Errorf("getsockname fd %d: %w", fd, err)
	}
	var family uint8
	var port int
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		family, port = unix.AF_INET, a.Port
	case *unix.SockaddrInet6:
		family, port = unix.AF_INET6, a.Port
	default:
		return 0, fmt.Errorf("socket fd %d is not a TCP socket", fd)
	}
	nl, err := diagSocket()
	if err != nil {
		return 0, err
	}
	defer unix.Close(nl)
	if err := unix.Sendto(nl, inetDiagRequest(family, port), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return 0, fmt.Errorf("sock_diag request: %w", err)
	}
	buf := make([]byte, 32<<10)
	n := 0
	for {
		got, _, err := unix.Recvfrom(nl, buf, 0)
		if err != nil {
			return 0, fmt.Errorf("sock_diag reply: %w", err)
		}
		c, done, err := countInetDiag(buf[:got], port)
		if err != nil {
			return 0, err
		}
		n += c
		if done {
			return n, nil
		}
	}
}

// inetDumps counts tcpConns's dumps, for tests of how often they run.
var inetDumps atomic.Int64

// diagSocket opens a NETLINK_SOCK_DIAG socket whose reads give up after
// a second: a kernel that does not answer must not block a sample.
func diagSocket() (int, error) {
	nl, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return 0, fmt.Errorf("open NETLINK_SOCK_DIAG: %w", err)
	}
	tv := unix.Timeval{Sec: 1}
	if err := unix.SetsockoptTimeval(nl, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(nl)
		return 0, fmt.Errorf("sock_diag receive timeout: %w", err)
	}
	return nl, nil
}

// inetDiagRequest dumps the TCP sockets of family whose local port is
// port, established or closing.
func inetDiagRequest(family uint8, port int) []byte {
	le := binary.LittleEndian
	b := make([]byte, unix.SizeofNlMsghdr+sizeofInetReq)
	le.PutUint32(b[0:], uint32(len(b)))
	le.PutUint16(b[4:], unix.SOCK_DIAG_BY_FAMILY)
	le.PutUint16(b[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	le.PutUint32(b[8:], 1)
	r := b[unix.SizeofNlMsghdr:]
	r[0], r[1] = family, unix.IPPROTO_TCP
	le.PutUint32(r[4:], tcpfEstablishd|tcpfCloseWait)
	binary.BigEndian.PutUint16(r[8:], uint16(port)) // id.idiag_sport
	le.PutUint32(r[48:], noCookie)
	le.PutUint32(r[52:], noCookie)
	return b
}

// countInetDiag counts the sockets on port in one read of a dump reply;
// done once NLMSG_DONE was seen.
func countInetDiag(b []byte, port int) (n int, done bool, err error) {
	le := binary.LittleEndian
	for len(b) >= unix.SizeofNlMsghdr {
		mlen, typ := int(le.Uint32(b[0:])), le.Uint16(b[4:])
		if mlen < unix.SizeofNlMsghdr || mlen > len(b) {
			return n, false, fmt.Errorf("sock_diag reply: bad length %d of %d", mlen, len(b))
		}
		body := b[unix.SizeofNlMsghdr:mlen]
		switch typ {
		case unix.NLMSG_DONE:
			return n, true, nil
		case unix.NLMSG_ERROR:
			if len(body) >= 4 {
				if errno := int32(le.Uint32(body)); errno < 0 {
					return n, false, os.NewSyscallError("sock_diag", unix.Errno(-errno))
				}
			}
			return n, false, errors.New("sock_diag: error reply")
		case unix.SOCK_DIAG_BY_FAMILY:
			if len(body) >= sizeofInetMsg && int(binary.BigEndian.Uint16(body[4:])) == port {
				n++
			}
		}
		b = b[min((mlen+3)&^3, len(b)):]
	}
	return n, false, nil
}
