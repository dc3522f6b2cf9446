package sockets

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/poold/poold/configs"
)

// Passed is a listening socket poold's service manager passed to it, as
// systemd socket activation does (LISTEN_FDS, LISTEN_FDNAMES): its fd in
// poold and the name LISTEN_FDNAMES gives it ("" when none).
type Passed struct {
	FD   int
	Name string
}

// The variables of sd_listen_fds(3).
const (
	envPID   = "LISTEN_PID"
	envFDs   = "LISTEN_FDS"
	envNames = "LISTEN_FDNAMES"
)

// TakePassed reads the socket-activation variables meant for pid (those
// whose LISTEN_PID is pid), as sd_listen_fds does, and removes all three
// from the environment either way, so that neither a worker nor an image
// of poold re-executed with the same pid (an upgrade) takes them again.
// The fds stay open; BindPassed takes them.
//
// Variables meant for another process (a wrapper that forked poold
// instead of exec'ing it) are ignored, as sd_listen_fds does, and
// described in foreign for the caller to report; the listening sockets
// among the fds they name are closed (the process they were meant for
// has its own copy: poold's would only hold the address, serving no
// one), anything else there is left alone.
func TakePassed(pid int) (passed []Passed, foreign *Foreign, err error) {
	return takePassed(pid, 3)
}

// Foreign is socket activation meant for another process: LISTEN_PID
// names it, not poold.
type Foreign struct {
	ListenPID, ListenFDs string
	// Closed describes the listening sockets poold closed, as
	// `fd 3 "web" (127.0.0.1:8000)`.
	Closed []string
}

// maxForeign bounds the fds looked at for a foreign LISTEN_FDS.
const maxForeign = 1024

// takePassed is TakePassed with the first passed fd at first (3 but in
// tests).
func takePassed(pid, first int) ([]Passed, *Foreign, error) {
	pidStr, fds, names := os.Getenv(envPID), os.Getenv(envFDs), os.Getenv(envNames)
	for _, k := range []string{envPID, envFDs, envNames} {
		os.Unsetenv(k)
	}
	if pidStr == "" {
		return nil, nil, nil
	}
	n, err := strconv.Atoi(fds)
	if pidStr != strconv.Itoa(pid) {
		return nil, closeForeign(pidStr, fds, first, n, err == nil), nil
	}
	if err != nil || n < 0 {
		return nil, nil, fmt.Errorf("sockets: %s=%q is not a number of fds; the service manager that started poold set it wrong", envFDs, fds)
	}
	var list []string
	if names != "" {
		list = strings.Split(names, ":")
		if len(list) != n {
			return nil, nil, fmt.Errorf("sockets: %s=%q names %d fds, %s=%d: the service manager that started poold set them wrong", envNames, names, len(list), envFDs, n)
		}
	}
	out := make([]Passed, n)
	for i := range out {
		out[i].FD = first + i
		if list != nil && list[i] != "unknown" { // systemd's name for an unnamed fd
			out[i].Name = list[i]
		}
	}
	return out, nil, nil
}

// closeForeign closes the listening sockets among the n fds from first
// that a foreign LISTEN_FDS names (none when ok is false: it is no
// number) and describes what it did.
func closeForeign(pidStr, fds string, first, n int, ok bool) *Foreign {
	f := &Foreign{ListenPID: pidStr, ListenFDs: fds}
	if !ok {
		return f
	}
	for fd := first; fd < first+min(n, maxForeign); fd++ {
		if ps := inspectPassed(Passed{FD: fd}); ps.err == nil {
			f.Closed = append(f.Closed, ps.String())
			unix.Close(fd)
		}
	}
	return f
}

// passedSock is a Passed with the address it is bound to.
type passedSock struct {
	Passed
	unix bool
	path string         // unix
	ap   netip.AddrPort // tcp
	err  error          // not a listening stream socket
}

func (p passedSock) String() string {
	s := fmt.Sprintf("fd %d", p.FD)
	if p.Name != "" {
		s += fmt.Sprintf(" %q", p.Name)
	}
	switch {
	case p.err != nil:
		return s + " (" + p.err.Error() + ")"
	case p.unix:
		return s + " (" + p.path + ")"
	}
	return s + " (" + p.ap.String() + ")"
}

func inspectPassed(p Passed) passedSock {
	ps := passedSock{Passed: p}
	if v, err := unix.GetsockoptInt(p.FD, unix.SOL_SOCKET, unix.SO_ACCEPTCONN); err != nil || v != 1 {
		ps.err = errors.New("not a listening socket")
		return ps
	}
	if v, err := unix.GetsockoptInt(p.FD, unix.SOL_SOCKET, unix.SO_TYPE); err != nil || v != unix.SOCK_STREAM {
		ps.err = errors.New("not a stream socket")
		return ps
	}
	sa, err := unix.Getsockname(p.FD)
	switch a := sa.(type) {
	case *unix.SockaddrUnix:
		ps.unix, ps.path = true, a.Name
	case *unix.SockaddrInet4:
		ps.ap = netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
	case *unix.SockaddrInet6:
		ps.ap = netip.AddrPortFrom(netip.AddrFrom16(a.Addr).Unmap(), uint16(a.Port))
	default:
		ps.err = fmt.Errorf("getsockname: %v", err)
	}
	return ps
}

// mismatch says how ps differs from the normalized spec sp ("" when ps
// is on sp's address).
func (ps passedSock) mismatch(sp configs.Socket) string {
	switch {
	case ps.err != nil:
		return ps.err.Error()
	case ps.unix != (sp.Family == "unix"):
		return fmt.Sprintf("it is %s, the config's socket is %s", ps, sp.Family)
	case ps.unix:
		if filepath.Clean(ps.path) != filepath.Clean(unixKey(sp)) && ps.path != sp.Path {
			return fmt.Sprintf("it is on %s, the config's socket on %s", ps.path, sp.Path)
		}
		return ""
	}
	t, err := resolve(sp)
	if err != nil {
		return err.Error()
	}
	if t.ip.WithZone("") != ps.ap.Addr() || (sp.Port != 0 && sp.Port != int(ps.ap.Port())) {
		return fmt.Sprintf("it is on %s, the config's socket on %s", ps.ap, netip.AddrPortFrom(t.ip.WithZone(""), uint16(sp.Port)))
	}
	return ""
}

// BindPassed is Bind for a poold its service manager passed sockets to:
// each spec takes the passed socket named like it (LISTEN_FDNAMES), or
// else the one on its address, instead of binding; the other specs are
// bound. A passed socket named like a spec but on another address is an
// error, so the config and the service manager cannot silently disagree
// on where a socket listens. The passed sockets no spec takes are closed
// (poold's copy would hold the address and serve no one; a service
// manager that keeps its own, as systemd does for a .socket unit, keeps
// their clients waiting) and returned, described, for the caller to
// report.
func BindPassed(specs []configs.Socket, passed []Passed) (set *Set, unused []string, err error) {
	return BindPassedFreeing(specs, passed, nil)
}

// BindPassedFreeing is BindPassed that binds the specs no passed socket
// takes with ApplyFreeing: free may end what holds their addresses, and
// they are bound once more (the passed sockets kept meanwhile).
func BindPassedFreeing(specs []configs.Socket, passed []Passed, free func(error) bool) (set *Set, unused []string, err error) {
	if len(passed) == 0 {
		set, err = bindFreeing(specs, free)
		return set, nil, err
	}
	norm, err := normalizeAll(specs)
	if err != nil {
		closePassed(passed)
		return nil, nil, err
	}
	socks := make([]passedSock, len(passed))
	for i, p := range passed {
		socks[i] = inspectPassed(p)
	}
	s := &Set{byName: make(map[string]*Listener)}
	pick := matchPassed(norm, socks)
	var errs []error
	for _, sp := range norm {
		i, ok := pick[sp.Name]
		if !ok {
			continue
		}
		if why := socks[i].mismatch(sp); why != "" {
			errs = append(errs, &Error{Socket: sp.Name, Op: "take", Addr: socks[i].String(), Err: errors.New("the socket the service manager passed under this name does not match: " + why),
				Hint: "make the service manager's socket (systemd ListenStream=) and the config agree, or name them differently (FileDescriptorName=)"})
			closeIfSocket(socks[i].FD)
			continue
		}
		s.byName[sp.Name] = passedListener(socks[i], sp)
	}
	taken := make(map[int]bool, len(pick))
	for _, i := range pick {
		taken[i] = true
	}
	for i, ps := range socks {
		if !taken[i] {
			unused = append(unused, ps.String())
			closeIfSocket(ps.FD)
		}
	}
	if len(errs) == 0 {
		_, err = s.ApplyFreeing(specs, free) // binds the specs no passed socket took
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		_ = s.Close() // passed sockets leave their files to the service manager
		return nil, unused, err
	}
	return s, unused, nil
}

// matchPassed pairs specs with passed sockets (spec name -> index in
// socks): first by name, then, among the sockets left whose name is no
// spec's, by address (a tcp spec on port 0 only by name).
func matchPassed(norm []configs.Socket, socks []passedSock) map[string]int {
	pick := make(map[string]int)
	taken := make([]bool, len(socks))
	specNames := make(map[string]bool, len(norm))
	for _, sp := range norm {
		specNames[sp.Name] = true
		for i, ps := range socks {
			if !taken[i] && ps.Name == sp.Name {
				pick[sp.Name], taken[i] = i, true
				break
			}
		}
	}
	for _, sp := range norm {
		if _, ok := pick[sp.Name]; ok || (sp.Family != "unix" && sp.Port == 0) {
			continue // port 0 names no address to find
		}
		for i, ps := range socks {
			if !taken[i] && !specNames[ps.Name] && ps.err == nil && ps.mismatch(sp) == "" {
				pick[sp.Name], taken[i] = i, true
				break
			}
		}
	}
	return pick
}

// passedListener makes the Listener of a passed socket that spec sp takes.
func passedListener(ps passedSock, sp configs.Socket) *Listener {
	unix.CloseOnExec(ps.FD)
	l := &Listener{Name: sp.Name, Spec: sp, fd: ps.FD, passed: true}
	if ps.unix {
		l.File = os.NewFile(uintptr(ps.FD), "socket "+sp.Name+" "+sp.Path)
		return l
	}
	// As bindTCP does: accepted connections inherit it (see there).
	_ = unix.SetsockoptInt(ps.FD, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	l.ip, l.port = ps.ap.Addr(), int(ps.ap.Port())
	l.v6only = l.ip.Is6() && isV6Only(ps.FD) // systemd's BindIPv6Only=
	l.File = os.NewFile(uintptr(ps.FD), "socket "+sp.Name+" "+l.Addr())
	return l
}

func closePassed(passed []Passed) {
	for _, p := range passed {
		closeIfSocket(p.FD)
	}
}

// closeIfSocket closes fd, one LISTEN_FDS counts, only if it is a socket:
// a LISTEN_FDS that overstates counts fds of poold's own (a log file, the
// Go runtime's epoll), and sd_listen_fds(3) never closes anything.
func closeIfSocket(fd int) {
	var st unix.Stat_t
	if unix.Fstat(fd, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFSOCK {
		unix.Close(fd)
	}
}

// PassedOn describes the socket of passed that listens on addr (a tcp
// "host:port", or with network "unix" a path), "" when none does: the
// reason an endpoint of poold's own (web.metrics_address, a tcp
// arbiter.endpoint) cannot bind there, since only a [sockets.NAME] takes
// a passed socket.
func PassedOn(passed []Passed, network, addr string) string {
	var match func(netip.AddrPort) bool
	if network != "unix" {
		if match = tcpMatch(addr); match == nil {
			return ""
		}
	}
	for _, p := range passed {
		ps := inspectPassed(p)
		switch {
		case ps.err != nil:
		case network == "unix":
			if ps.unix && filepath.Clean(ps.path) == filepath.Clean(addr) {
				return ps.String()
			}
		case !ps.unix && match(ps.ap):
			return ps.String()
		}
	}
	return ""
}

// tcpMatch returns whether a socket bound at an address clashes with
// addr ("HOST:PORT"; HOST an address, "localhost", or "" or "*" for
// every address); nil when addr cannot be read.
func tcpMatch(addr string) func(netip.AddrPort) bool {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil
	}
	pn, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return nil
	}
	var ip netip.Addr
	switch host {
	case "", "*":
	case "localhost":
		ip = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	default:
		if ip, err = netip.ParseAddr(host); err != nil {
			return nil
		}
		ip = ip.Unmap()
	}
	return func(at netip.AddrPort) bool {
		a := at.Addr().Unmap()
		return at.Port() == uint16(pn) &&
			(!ip.IsValid() || a == ip || a.IsUnspecified() || ip.IsUnspecified() || host == "localhost" && a.IsLoopback())
	}
}
