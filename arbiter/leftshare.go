package arbiter

import (
	"net/netip"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/poold/poold/sockets"
	"github.com/poold/poold/watcher/sockdiag"
)

// What a killed poold left on a reuseport socket's address. With
// SO_REUSEPORT set on both sides (and the same user), the kernel lets a
// bind share an address another listener holds: the bind succeeds, free
// (leftsweep.go) never runs, and a leftover holding the old socket keeps
// a share of the new connections, serving the old code. So after a
// bind, each reuseport tcp socket it bound asks sock_diag for the
// listeners on its port. Only when one on its address is not poold's own
// (sockets.Set.Inodes) does poold look through /proc for who holds it,
// and it ends those a previous poold of this config left, as free does,
// with the same judge: nothing unmarked, of another config, or of a live
// poold of this config (without cgroups no lock keeps a second poold
// off the same file; that one is named in a warning instead).

// shareScans counts sweepShared's looks through /proc, for tests of its
// cost: a bind that shares its address with nobody makes none.
var shareScans atomic.Int64

// sweepShared ends what a previous poold of this config left holding
// the address of a reuseport socket of fresh (sockets set has just
// bound), and warns of the holders it may not end.
func (sw *leftSweep) sweepShared(set *sockets.Set, fresh []*sockets.Listener) {
	if sw.id == "" {
		return
	}
	sw.notes = map[string][]string{}
	var own map[uint64]bool
	var left []leftProc
	seen := map[int]bool{}
	for _, l := range fresh {
		if !l.Spec.ReusePort || l.Spec.Family == "unix" {
			continue
		}
		if own == nil {
			own = set.Inodes()
		}
		others := otherListeners(l, own)
		if len(others) == 0 {
			continue
		}
		shareScans.Add(1)
		left = sw.gather(left, l.Name, sockets.InodeHolders(others), seen)
	}
	if len(left) > 0 {
		sw.end(left, leftSockets(left))
	}
	for _, l := range fresh {
		if notes := sw.notes[l.Name]; len(notes) > 0 {
			sw.a.log.Warn("a reuseport socket shares its address with processes poold left running, and the kernel gives them a share of its new connections: "+strings.Join(notes, "; "),
				"socket", l.Name, "address", l.Addr())
		}
	}
}

// otherListeners are the inodes of the tcp listeners on l's port, on an
// address that shares it with l's, that are not poold's own (own); nil
// when sock_diag finds none, or cannot tell.
func otherListeners(l *sockets.Listener, own map[uint64]bool) map[uint64]bool {
	ip, err := netip.ParseAddr(l.Host())
	if err != nil {
		return nil
	}
	var others map[uint64]bool
	for _, family := range []uint8{unix.AF_INET, unix.AF_INET6} {
		_ = sockdiag.InetDump(family, sockdiag.TCPFListen, l.Port(), func(s sockdiag.InetSock) {
			addr := netip.AddrFrom16(s.Addr)
			if s.Family == unix.AF_INET {
				addr = netip.AddrFrom4([4]byte(s.Addr[:4]))
			}
			if s.Port != l.Port() || s.Inode == 0 || own[s.Inode] || !sockets.Clashes(ip, addr) {
				return
			}
			if others == nil {
				others = map[uint64]bool{}
			}
			others[s.Inode] = true
		})
	}
	return others
}

// freshSockets are the sockets of after that a reload bound: those
// whose fd none of before had (a socket it took out of the Set keeps its
// fd open until closeRemoved, so no new one reuses it meanwhile).
func freshSockets(before, after []*sockets.Listener) []*sockets.Listener {
	had := make(map[int]bool, len(before))
	for _, l := range before {
		had[l.FD()] = true
	}
	var fresh []*sockets.Listener
	for _, l := range after {
		if !had[l.FD()] {
			fresh = append(fresh, l)
		}
	}
	return fresh
}
