package arbiter

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/poold/poold/watcher/sockdiag"
)

// unix_diag (linux/unix_diag.h), which x/sys/unix does not define.
const (
	udiagShowRQLen = 0x10 // UDIAG_SHOW_RQLEN
	unixDiagRQLen  = 4    // UNIX_DIAG_RQLEN attribute
	sizeofUnixReq  = 24   // struct unix_diag_req
	sizeofUnixMsg  = 16   // struct unix_diag_msg
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
	nl, err := sockdiag.Open()
	if err != nil {
		return 0, 0, err
	}
	defer unix.Close(nl)
	if err := sockdiag.Send(nl, unixDiagRequest(uint32(st.Ino))); err != nil {
		return 0, 0, err
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
	b := sockdiag.Header(0, sizeofUnixReq)
	r := b[unix.SizeofNlMsghdr:]
	r[0] = unix.AF_UNIX
	le.PutUint32(r[4:], ^uint32(0)) // every state
	le.PutUint32(r[8:], ino)
	le.PutUint32(r[12:], udiagShowRQLen)
	le.PutUint32(r[16:], sockdiag.NoCookie)
	le.PutUint32(r[20:], sockdiag.NoCookie)
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
		return 0, 0, sockdiag.ErrorReply(body)
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

// tcpConns counts the connections open on the port of the listening TCP
// socket fd (established or closing, accepted or still queued), through
// a NETLINK_SOCK_DIAG dump filtered to that port. The filter only makes
// the reply short: the kernel (inet_diag_dump_icsk) still walks every
// bucket of the host's established hash, so one call costs in proportion
// to tcp_ehash_entries (about 1.4 ms on a 24 GB host with 262,144
// buckets), not to this socket's connections. Call it rarely
// (demandcount.go).
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
	n := 0
	err = sockdiag.InetDump(family, sockdiag.TCPFEstablished|sockdiag.TCPFCloseWait, port, func(s sockdiag.InetSock) {
		if s.Port == port {
			n++
		}
	})
	return n, err
}

// inetDumps counts tcpConns's dumps, for tests of how often they run.
var inetDumps atomic.Int64
