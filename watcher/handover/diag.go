package handover

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"

	"github.com/poold/poold/watcher/sockdiag"
)

// Reading /proc/PID/net/tcp{,6} to find a worker's accepted connections
// formats every TCP socket of the network namespace as text, TIME_WAIT
// included: 28 ms a read on a host with 17k of them, done every 25 ms
// for each starting worker that holds a connection, which made poold's
// CPU grow with the host's connections while a pool grew under load.
// NETLINK_SOCK_DIAG (watcher/sockdiag) answers the same question with
// dumps filtered in the kernel: the listeners, then, for each listener
// of the pool, the sockets on its port that can have an inode (no
// TIME_WAIT, no SYN_RECV). The filter spares the formatting and copying
// of the other sockets, not the walk: each dump still visits every
// bucket and socket of its hash (the established one, TIME_WAIT
// included, for the second), so a look up costs in proportion to the
// host's table, about a tenth of /proc's (sockdiag's package comment).
// It asks poold's network namespace, so it is used only for a worker in
// the same one; elsewhere, or where sock_diag fails, /proc is read.

// What a socket that has an inode can be in: no TIME_WAIT, SYN_RECV or
// NEW_SYN_RECV, which /proc shows with inode 0, nor LISTEN.
const tcpfHeld = sockdiag.TCPFAll &^ (sockdiag.TCPFListen | sockdiag.TCPFTimeWait | sockdiag.TCPFSynRecv | sockdiag.TCPFNewSynRecv)

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
		ls, err := inetDump(family, sockdiag.TCPFListen, 0)
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
	var out []diagSock
	err := sockdiag.InetDump(family, states, sport, func(s sockdiag.InetSock) {
		out = append(out, diagSock{addr: s.Addr, port: s.Port, inode: s.Inode})
	})
	return out, err
}
