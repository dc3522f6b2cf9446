package handover

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Reading /proc/PID/net/tcp{,6} to find a worker's accepted connections
// formats every TCP socket of the network namespace as text, TIME_WAIT
// included: 28 ms a read on a host with 17k of them, done every 25 ms
// for each starting worker that holds a connection, which made poold's
// CPU grow with the host's connections while a pool grew under load.
// NETLINK_SOCK_DIAG answers the same question with a dump filtered in
// the kernel: the listeners (their own small hash), then, for each
// listener of the pool, the sockets on its port that can have an inode
// (no TIME_WAIT, no SYN_RECV), which the kernel skips without formatting.
// It asks poold's network namespace, so it is used only for a worker in
// the same one; elsewhere, or where sock_diag fails, /proc is read.

// inet_diag (linux/inet_diag.h), linux/tcp_states.h.
const (
	sizeofInetReq = 56 // struct inet_diag_req_v2
	sizeofInetMsg = 72 // struct inet_diag_msg
	tcpListen     = 10 // TCP_LISTEN
	tcpfAll       = 1<<13 - 1
	tcpfListen    = 1 << tcpListen
	// What a socket that has an inode can be in: no TIME_WAIT (6),
	// SYN_RECV (3) or NEW_SYN_RECV (12), which /proc shows with inode 0.
	tcpfHeld = tcpfAll &^ (tcpfListen | 1<<6 | 1<<3 | 1<<12)
)

// diagSock is one socket of an inet_diag dump.
type diagSock struct {
	addr  [16]byte // local address (IPv4 in the first 4 bytes)
	port  int      // local port
	inode uint64
}

// servesTCPDiag is servesConn's TCP part through sock_diag; an error
// when it cannot say (another network namespace, no sock_diag).
func servesTCPDiag(dir string, socks, conns Inodes) (bool, error) {
	if !sameNetns(dir) {
		return false, errors.New("another network namespace")
	}
	for _, family := range []uint8{unix.AF_INET, unix.AF_INET6} {
		ls, err := inetDump(family, tcpfListen, 0)
		if err != nil {
			return false, err
		}
		for _, l := range ls {
			if !socks[l.inode] {
				continue
			}
			cs, err := inetDump(family, tcpfHeld, l.port)
			if err != nil {
				return false, err
			}
			for _, c := range cs {
				if conns[c.inode] && c.port == l.port && (l.addr == [16]byte{} || c.addr == l.addr) {
					return true, nil
				}
			}
		}
	}
	return false, nil
}

// sameNetns reports whether the process of dir is in poold's network
// namespace, the one sock_diag answers for.
func sameNetns(dir string) bool {
	self, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		return false
	}
	its, err := os.Readlink(dir + "/ns/net")
	return err == nil && its == self
}

// inetDump lists the TCP sockets of family in states (a TCPF_ mask)
// whose local port is sport (0: any).
func inetDump(family uint8, states uint32, sport int) ([]diagSock, error) {
	nl, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return nil, fmt.Errorf("open NETLINK_SOCK_DIAG: %w", err)
	}
	defer unix.Close(nl)
	// A kernel that does not answer must not hold a look up.
	if err := unix.SetsockoptTimeval(nl, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 1}); err != nil {
		return nil, fmt.Errorf("sock_diag receive timeout: %w", err)
	}
	if err := unix.Sendto(nl, inetRequest(family, states, sport), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("sock_diag request: %w", err)
	}
	var out []diagSock
	buf := make([]byte, 32<<10)
	for {
		n, _, err := unix.Recvfrom(nl, buf, 0)
		if err != nil {
			return nil, fmt.Errorf("sock_diag reply: %w", err)
		}
		var done bool
		if out, done, err = parseInetDump(buf[:n], out); err != nil || done {
			return out, err
		}
	}
}

// inetRequest is one inet_diag_req_v2 dump request.
func inetRequest(family uint8, states uint32, sport int) []byte {
	le := binary.LittleEndian // netlink is host order; poold targets little-endian Linux
	b := make([]byte, unix.SizeofNlMsghdr+sizeofInetReq)
	le.PutUint32(b[0:], uint32(len(b)))
	le.PutUint16(b[4:], unix.SOCK_DIAG_BY_FAMILY)
	le.PutUint16(b[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	le.PutUint32(b[8:], 1)
	r := b[unix.SizeofNlMsghdr:]
	r[0], r[1] = family, unix.IPPROTO_TCP
	le.PutUint32(r[4:], states)
	binary.BigEndian.PutUint16(r[8:], uint16(sport)) // id.idiag_sport
	le.PutUint32(r[48:], ^uint32(0))                 // no cookie
	le.PutUint32(r[52:], ^uint32(0))
	return b
}

// parseInetDump appends the sockets of one read of a dump reply to out;
// done once NLMSG_DONE was seen.
func parseInetDump(b []byte, out []diagSock) ([]diagSock, bool, error) {
	le := binary.LittleEndian
	for len(b) >= unix.SizeofNlMsghdr {
		mlen, typ := int(le.Uint32(b[0:])), le.Uint16(b[4:])
		if mlen < unix.SizeofNlMsghdr || mlen > len(b) {
			return out, false, fmt.Errorf("sock_diag reply: bad length %d of %d", mlen, len(b))
		}
		body := b[unix.SizeofNlMsghdr:mlen]
		switch typ {
		case unix.NLMSG_DONE:
			return out, true, nil
		case unix.NLMSG_ERROR:
			if len(body) >= 4 {
				if errno := int32(le.Uint32(body)); errno < 0 {
					return out, false, os.NewSyscallError("sock_diag", unix.Errno(-errno))
				}
			}
			return out, false, errors.New("sock_diag: error reply")
		case unix.SOCK_DIAG_BY_FAMILY:
			if len(body) >= sizeofInetMsg {
				var s diagSock
				s.port = int(binary.BigEndian.Uint16(body[4:]))
				copy(s.addr[:], body[8:24])
				s.inode = uint64(le.Uint32(body[68:]))
				if body[0] == unix.AF_INET {
					clear(s.addr[4:]) // the kernel leaves only the first word
				}
				out = append(out, s)
			}
		}
		b = b[min((mlen+3)&^3, len(b)):]
	}
	return out, false, nil
}
