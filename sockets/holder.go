package sockets

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/prometheus/procfs"
)

// Finding who holds an address is for error messages only: it runs after
// a bind failed, reads /proc, and gives up quietly on anything it cannot
// read, so a lookup never turns one error into another.

// tcpListen and tcpClose are the /proc/net/tcp states of a socket that
// holds a port: listening, or bound and not (yet) listening.
const (
	tcpListen = 0x0A
	tcpClose  = 0x07
)

// unixAcceptCon is __SO_ACCEPTCON in /proc/net/unix: a listening socket.
const unixAcceptCon = 1 << 16

// maxHolders is how many processes a hint names; the rest are counted.
const maxHolders = 3

// holders is what a look through /proc found about the processes that
// hold an address: the pids (sorted) with their command lines, and
// whether some processes could not be looked at (another user's).
type holders struct {
	pids   []int
	cmds   map[int]string
	ppids  map[int]int // each holder's parent, where /proc told it
	hidden bool
	conns  int // connections (not listeners) with the port as their local port
	port   int // the port, for a hint about those connections
	// only4: every tcp listener found holds an IPv4 address (or an
	// IPv4-mapped one), which a "::" socket bound IPv6 only leaves alone.
	only4 bool
	// found: some socket holds the address, whether or not a process
	// holding it could be named.
	found bool
}

// tcpHolders finds the processes with a tcp socket that keeps ip:port
// from being bound: one on the same port whose address is ip or a
// wildcard (0.0.0.0, ::), or is any address when ip is a wildcard.
func tcpHolders(ip netip.Addr, port int) holders {
	pfs, err := procfs.NewDefaultFS()
	if err != nil {
		return holders{}
	}
	inodes := map[uint64]bool{}
	conns := 0
	v6 := false
	for _, read := range []func() (procfs.NetTCP, error){pfs.NetTCP, pfs.NetTCP6} {
		lines, err := read()
		if err != nil {
			continue // no IPv6 on this machine, or /proc/net unreadable
		}
		for _, l := range lines {
			a, ok := netip.AddrFromSlice(l.LocalAddr)
			if int(l.LocalPort) != port || !ok || !clashes(ip, a.Unmap()) {
				continue
			}
			switch {
			case l.St != tcpListen && l.St != tcpClose:
				conns++ // a client's connection that was given this port
			case l.Inode != 0:
				inodes[l.Inode] = true
				v6 = v6 || a.Unmap().Is6()
			}
		}
	}
	h := socketHolders(pfs, inodes)
	h.conns, h.port = conns, port
	h.only4 = len(inodes) > 0 && !v6
	return h
}

// localPortRange is the kernel's range of ports for outgoing
// connections; ok=false when it cannot be read.
func localPortRange() (lo, hi int, ok bool) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, 0, false
	}
	n, err := fmt.Sscan(string(b), &lo, &hi)
	return lo, hi, err == nil && n == 2
}

// connHint says what to do about connections that have port as their
// local port: one the kernel gave out (inside its range for outgoing
// connections) or another (a client bound it; a server accepted it).
func connHint(port int) string {
	see := fmt.Sprintf("ss -tanp 'sport = :%d' names it; the port is free again once it closes", port)
	if lo, hi, ok := localPortRange(); ok && port >= lo && port <= hi {
		return fmt.Sprintf("no process listens there: a connection of this machine has it as its local port, one the kernel gave an outgoing connection from net.ipv4.ip_local_port_range (%d-%d) (%s); choose a port outside that range, or reserve this one with sysctl net.ipv4.ip_local_reserved_ports so that no connection takes it", lo, hi, see)
	}
	return fmt.Sprintf("no process listens there: a connection of this machine has it as its local port, outside the kernel's range for outgoing connections (its client bound the port, or a server accepted it and closed its listener since) (%s); choose another port, or end that connection", see)
}

// clashes reports whether a socket bound to held keeps want from being
// bound on the same port. An IPv6 wildcard may take IPv4 too or not (a
// socket's bind_ipv6_only; /proc/net/tcp6 does not tell), so it counts
// on either side.
func clashes(want, held netip.Addr) bool {
	switch {
	case want == held:
		return true
	case want.Is4() != held.Is4():
		return held.Is6() && held.IsUnspecified() || want.Is6() && want.IsUnspecified()
	}
	return want.IsUnspecified() || held.IsUnspecified()
}

// unixHolders finds the processes with a listening unix socket at path.
func unixHolders(path string) holders {
	pfs, err := procfs.NewDefaultFS()
	if err != nil {
		return holders{}
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	table, err := pfs.NetUNIX()
	if err != nil {
		return holders{}
	}
	inodes := map[uint64]bool{}
	for _, l := range table.Rows {
		if l.Flags&unixAcceptCon != 0 && l.Inode != 0 && (l.Path == path || l.Path == abs) {
			inodes[l.Inode] = true
		}
	}
	return socketHolders(pfs, inodes)
}

// socketHolders finds the processes with an fd on one of the socket
// inodes. Many processes share a listening socket (a server's workers
// inherit it), so every process is looked at.
func socketHolders(pfs procfs.FS, inodes map[uint64]bool) holders {
	h := holders{cmds: map[int]string{}, ppids: map[int]int{}, found: len(inodes) > 0}
	if len(inodes) == 0 {
		return h
	}
	procs, err := pfs.AllProcs()
	if err != nil {
		return h
	}
	for _, p := range procs {
		targets, err := p.FileDescriptorTargets()
		if errors.Is(err, fs.ErrPermission) {
			h.hidden = true
			continue
		}
		if err != nil {
			continue // exited meanwhile
		}
		if slices.ContainsFunc(targets, func(t string) bool { return inodes[socketInode(t)] }) {
			h.pids = append(h.pids, p.PID)
			h.cmds[p.PID] = commandOf(p)
			if st, err := p.Stat(); err == nil {
				h.ppids[p.PID] = st.PPID
			}
		}
	}
	slices.Sort(h.pids)
	return h
}

// socketInode is the inode of an fd target "socket:[123]", else 0.
func socketInode(target string) uint64 {
	s, ok := strings.CutPrefix(target, "socket:[")
	if !ok {
		return 0
	}
	n, _ := strconv.ParseUint(strings.TrimSuffix(s, "]"), 10, 64)
	return n
}

// commandOf is a process's command line (the program without its
// directory), shortened and with control characters escaped, or its name
// when the command line is empty (a kernel thread, a zombie).
func commandOf(p procfs.Proc) string {
	s := ""
	if args, err := p.CmdLine(); err == nil && len(args) > 0 {
		args[0] = filepath.Base(args[0])
		s = strings.Join(args, " ")
	}
	if s == "" {
		s, _ = p.Comm()
	}
	if s == "" {
		return "?"
	}
	const maxLen = 80
	if r := []rune(s); len(r) > maxLen {
		s = string(r[:maxLen]) + "..."
	}
	q := strconv.QuoteToGraphic(s)
	return q[1 : len(q)-1]
}

// who says who holds the address, e.g. "pid 812 (nginx: master
// process) holds it", "" when nobody was found.
func (h holders) who() string {
	if len(h.pids) == 0 {
		return ""
	}
	var parts []string
	for _, pid := range h.pids[:min(len(h.pids), maxHolders)] {
		who := fmt.Sprintf("pid %d (%s)", pid, h.cmds[pid])
		if pid == os.Getpid() {
			who = fmt.Sprintf("poold itself (pid %d)", pid)
		}
		parts = append(parts, who)
	}
	s := strings.Join(parts, ", ")
	if n := len(h.pids) - maxHolders; n > 0 {
		s += fmt.Sprintf(" and %d more processes", n)
	}
	verb := " holds it"
	if len(h.pids) > 1 {
		verb = " hold it"
	}
	return s + verb
}

// inUseHint is the hint for an address another process holds: who holds
// it when /proc tells, else the command that tells (find, e.g. "ss -ltnp
// 'sport = :8000'") if some processes were hidden from poold's user, then
// what to do (todo, e.g. "stop that process or choose another port",
// fitted to several holders by stopWhom).
func inUseHint(h holders, find, todo string) string {
	who := h.who()
	switch {
	case slices.Contains(h.pids, os.Getpid()):
		// Not a socket of the Set (Apply names those): an endpoint.
		return who + ", outside its sockets: one of its endpoints (arbiter.endpoint, arbiter.pubsub_endpoint, arbiter.stats_endpoint, web.address, web.metrics_address) is there; give the socket or that endpoint another address"
	case who != "":
		return who + "; " + h.stopWhom(todo)
	case h.hidden:
		return "another process holds it, one poold's user may not inspect (as root, " + find + " names it); " + todo
	case h.conns > 0:
		return connHint(h.port)
	}
	return "another process holds it; " + todo
}

// stopWhom fits todo's "stop that process" to the holders: with several
// (a server and the workers it started, which inherit its socket) it
// names the one that started the others, whose stop stops them, or says
// "stop those processes" when no one did.
func (h holders) stopWhom(todo string) string {
	if len(h.pids) < 2 {
		return todo
	}
	var roots []int
	for _, pid := range h.pids {
		if ppid, ok := h.ppids[pid]; !ok || !slices.Contains(h.pids, ppid) {
			roots = append(roots, pid)
		}
	}
	whom := "those processes"
	if len(roots) == 1 {
		whom = fmt.Sprintf("pid %d, which started the others,", roots[0])
	}
	return strings.Replace(todo, "stop that process", "stop "+whom, 1)
}

// tcpFind and unixFind are the commands that name the holder of a port
// or a unix socket path.
func tcpFind(port int) string     { return fmt.Sprintf("ss -ltnp 'sport = :%d'", port) }
func unixFind(path string) string { return fmt.Sprintf("ss -lxp 'src %s'", path) }

// InUseHint is the hint for an address another process holds, for a
// listener outside a Set (poold's own endpoints): who holds it, then
// todo. addr is a tcp "host:port" or, with network "unix", a socket
// path. It is "" when a tcp addr is not an IP address and a port.
func InUseHint(network, addr, todo string) string {
	if network == "unix" {
		return inUseHint(unixHolders(addr), unixFind(addr), todo)
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return ""
	}
	return inUseHint(tcpHolders(ap.Addr().Unmap(), int(ap.Port())), tcpFind(int(ap.Port())), todo)
}

// HeldHint is InUseHint for an address poold has not tried to bind
// (poold --check binds nothing): "" when /proc shows no socket holding
// it, or when a tcp addr is not an IP address and a port.
// pids are the processes /proc names as its holders.
func HeldHint(network, addr, todo string) (hint string, pids []int) {
	var h holders
	find := unixFind(addr)
	if network == "unix" {
		h = unixHolders(addr)
	} else {
		ap, err := netip.ParseAddrPort(addr)
		if err != nil {
			return "", nil
		}
		h, find = tcpHolders(ap.Addr().Unmap(), int(ap.Port())), tcpFind(int(ap.Port()))
	}
	if !h.found {
		return "", nil
	}
	return inUseHint(h, find, todo), h.pids
}

// HolderPids lists the processes that hold the address of e, an error of
// a bind another process's socket refused (EADDRINUSE, or ErrInUse for a
// unix socket file a live process answers on), as /proc shows them now;
// nil for any other error, or when /proc shows none (another user's).
// For a caller that may end what holds it, then bind again (ApplyFreeing).
func HolderPids(e *Error) []int {
	if !errors.Is(e, syscall.EADDRINUSE) && !errors.Is(e, ErrInUse) {
		return nil
	}
	if ap, err := netip.ParseAddrPort(e.Addr); err == nil {
		return tcpHolders(ap.Addr().Unmap(), int(ap.Port())).pids
	}
	return unixHolders(e.Addr).pids
}

// Clashes reports whether a tcp socket bound to held shares the port
// with one bound to want (the same address, or a wildcard on either
// side): for a caller that found the listeners on a port itself
// (sock_diag), and asks which of them are on this address.
func Clashes(want, held netip.Addr) bool { return clashes(want.Unmap(), held.Unmap()) }

// InodeHolders lists the processes with an fd on one of the socket
// inodes, sorted, by a look at every process's fds in /proc (what
// HolderPids does once it has the inodes); nil when /proc shows none.
func InodeHolders(inodes map[uint64]bool) []int {
	pfs, err := procfs.NewDefaultFS()
	if err != nil {
		return nil
	}
	return socketHolders(pfs, inodes).pids
}
