package sockets

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/poold/poold/configs"
)

// Listener is one bound, listening socket. A Listener is never modified
// after the Set publishes it; a live reload that changes a socket puts a
// new Listener in its place.
type Listener struct {
	Name string
	// Spec is the socket's config with defaults filled in (Family, Host,
	// Backlog, Mode). A Port of 0 stays 0 here; Addr and Info report
	// the port the kernel chose.
	Spec configs.Socket
	// File holds the listening fd: blocking, close-on-exec. Hand it to a
	// worker through Handoff; never set it non-blocking, workers share it.
	File *os.File

	fd    int
	ip    netip.Addr // tcp: the bound address
	port  int        // tcp: the bound port (the kernel's choice for port 0)
	owned *fileID    // unix: the socket file poold created, removed on close
	// v6only: a tcp socket on "::" takes IPv6 only (IPV6_V6ONLY), as it
	// was bound; keepV6 says keep it so whatever the config now wants
	// (one a build before bind_ipv6_only handed over, always IPv6 only,
	// until a reload changes its binding or sets the key).
	v6only, keepV6 bool
	// passed: taken from the service manager (BindPassed), which owns
	// its address (a unix socket's file stays when poold closes it).
	passed bool
}

// fileID identifies a unix socket file poold created, so that closing
// removes that file and never a successor at the same path.
type fileID struct {
	path     string
	dev, ino uint64
}

// Passed reports whether poold took the socket from its service manager
// (systemd socket activation) rather than binding it.
func (l *Listener) Passed() bool { return l.passed }

// FD is the listening socket's fd number in poold.
func (l *Listener) FD() int { return l.fd }

// Addr is "127.0.0.1:8000", "[::1]:8000" or the unix socket path.
func (l *Listener) Addr() string {
	if l.Spec.Family == "unix" {
		return l.Spec.Path
	}
	return netip.AddrPortFrom(l.ip, uint16(l.port)).String()
}

// Host is the bound IP address ("" for a unix socket).
func (l *Listener) Host() string {
	if l.Spec.Family == "unix" {
		return ""
	}
	return l.ip.String()
}

// Port is the bound port (0 for a unix socket).
func (l *Listener) Port() int { return l.port }

// Info is the socket's entry in the control protocol's listsockets reply:
// {fd, name, backlog, host, port} or {fd, name, backlog, path}. fd is the
// fd number to report, normally l.FD() (poold's own fd number).
func (l *Listener) Info(fd int) map[string]any {
	m := map[string]any{"fd": fd, "name": l.Name, "backlog": l.Spec.Backlog}
	if l.Spec.Family == "unix" {
		m["path"] = l.Spec.Path
	} else {
		m["host"] = l.ip.String()
		m["port"] = l.port
	}
	return m
}

// close closes the fd and removes the unix socket file poold created,
// if the path still names that very file.
func (l *Listener) close() error {
	err := l.File.Close()
	if errors.Is(err, os.ErrClosed) {
		err = nil // released while poold stopped (Set.Release)
	}
	if l.owned != nil {
		err = errors.Join(err, l.owned.remove())
	}
	return err
}

func (id *fileID) remove() error {
	var st unix.Stat_t
	if err := unix.Lstat(id.path, &st); err != nil {
		return nil // gone already, or not ours to judge
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK || st.Dev != id.dev || st.Ino != id.ino {
		return nil // someone else's file now
	}
	if err := os.Remove(id.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("sockets: remove socket file: %w", err)
	}
	return nil
}

// bindTCP creates, binds and listens one tcp socket. v6only says a
// socket on "::" takes IPv6 only (configs.IPv6Only); any other IPv6
// address is bound IPv6 only, which changes nothing for it.
func bindTCP(s configs.Socket, v6only bool) (*Listener, error) {
	t, err := resolve(s)
	if err != nil {
		return nil, err
	}
	v6only = t.v6 && (v6only || !t.ip.IsUnspecified())
	addr := netip.AddrPortFrom(t.ip, uint16(s.Port)).String()
	dual := t.v6 && !v6only
	fail := func(op string, err error) (*Listener, error) {
		host := t.ip.WithZone("").String()
		var hint string
		if dual && errors.Is(err, unix.EADDRINUSE) {
			hint = tcpInUseHint(host, s.Port, true)
		} else {
			hint = sysHint(err, s, host, s.Port)
		}
		return nil, &Error{Socket: s.Name, Op: op, Addr: addr, Err: err, Hint: hint}
	}
	domain := unix.AF_INET
	var sa unix.Sockaddr
	if t.v6 {
		domain = unix.AF_INET6
		sa = &unix.SockaddrInet6{Port: s.Port, Addr: t.ip.As16(), ZoneId: t.zone}
	} else {
		sa = &unix.SockaddrInet4{Port: s.Port, Addr: t.ip.As4()}
	}
	fd, err := unix.Socket(domain, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fail("socket", err)
	}
	ok := false
	defer func() {
		if !ok {
			unix.Close(fd)
		}
	}()
	if op, err := setTCPOptions(fd, s, t.v6, v6only); err != nil {
		return fail(op, err)
	}
	if err := unix.Bind(fd, sa); err != nil {
		return fail("bind", err)
	}
	port, err := boundPort(fd, s.Port)
	if err != nil {
		return fail("getsockname", err)
	}
	addr = netip.AddrPortFrom(t.ip, uint16(port)).String()
	if err := unix.SetNonblock(fd, s.NonBlocking); err != nil {
		return fail("fcntl O_NONBLOCK", err)
	}
	if err := unix.Listen(fd, s.Backlog); err != nil {
		return fail("listen", err)
	}
	ok = true
	return &Listener{
		Name:   s.Name,
		Spec:   s,
		File:   os.NewFile(uintptr(fd), "socket "+s.Name+" "+addr),
		fd:     fd,
		ip:     t.ip,
		port:   port,
		v6only: v6only,
	}, nil
}

// setTCPOptions sets what a tcp socket needs before bind; op names the
// option that failed.
func setTCPOptions(fd int, s configs.Socket, v6, v6only bool) (op string, err error) {
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return "setsockopt SO_REUSEADDR", err
	}
	if s.ReusePort {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			return "setsockopt SO_REUSEPORT", err
		}
	}
	// Linux copies TCP_NODELAY from a listener to every connection it
	// accepts. A worker that adopts the fd without knowing it is tcp
	// (uvicorn --fd wraps it as AF_UNIX) never sets it itself, and Nagle
	// with delayed ACK then holds each keep-alive reply ~40 ms. Go's net
	// and gunicorn set it anyway, so this only helps.
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
		return "setsockopt TCP_NODELAY", err
	}
	if v6 {
		// Set either way: net.ipv6.bindv6only would decide otherwise.
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, boolInt(v6only)); err != nil {
			return "setsockopt IPV6_V6ONLY", err
		}
	}
	return "", nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// boundPort is the port fd is bound to (the kernel's choice for port 0).
func boundPort(fd, asked int) (int, error) {
	got, err := unix.Getsockname(fd)
	if err != nil {
		return 0, err
	}
	switch a := got.(type) {
	case *unix.SockaddrInet4:
		return a.Port, nil
	case *unix.SockaddrInet6:
		return a.Port, nil
	}
	return asked, nil
}

// isV6Only reports whether a tcp fd takes IPv6 only (IPV6_V6ONLY); false
// for an IPv4 socket or when it cannot be read.
func isV6Only(fd int) bool {
	v, err := unix.GetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY)
	return err == nil && v == 1
}

// bindUnix creates, binds, chmods and listens one unix socket. With
// viaTemp (poold itself holds the path, for a live reload) it binds a
// temporary name in the same directory; the caller renames it over the
// path with commitUnix. Otherwise an existing socket file at the path is
// checked: stale ones are replaced when the spec allows, live ones and
// non-sockets are refused (and never deleted).
func bindUnix(s configs.Socket, viaTemp bool) (l *Listener, tmp string, err error) {
	fail := func(op string, err error, hint string) (*Listener, string, error) {
		if hint == "" {
			hint = sysHint(err, s, "", 0)
		}
		return nil, "", &Error{Socket: s.Name, Op: op, Addr: s.Path, Err: err, Hint: hint}
	}
	if isAbstract(s.Path) {
		return bindAbstract(s)
	}
	target, err := unixTarget(s, viaTemp)
	if err != nil {
		return nil, "", err
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fail("socket", err, "")
	}
	var id *fileID
	ok := false
	defer func() {
		if !ok {
			unix.Close(fd)
			if id != nil {
				_ = id.remove()
			}
		}
	}()
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: target}); err != nil {
		return fail("bind", err, "")
	}
	var st unix.Stat_t
	if err := unix.Lstat(target, &st); err != nil {
		return fail("stat", err, "")
	}
	id = &fileID{path: target, dev: st.Dev, ino: st.Ino}
	// chmod before listen: nobody can connect before the mode is right.
	// Through the file bound, not the path: see setSocketFile.
	if err := setSocketFile(s.Name, target, s, id, true); err != nil {
		return nil, "", err
	}
	if err := unix.SetNonblock(fd, s.NonBlocking); err != nil {
		return fail("fcntl O_NONBLOCK", err, "")
	}
	if err := unix.Listen(fd, s.Backlog); err != nil {
		return fail("listen", err, "")
	}
	ok = true
	if viaTemp {
		tmp = target
	}
	return &Listener{
		Name:  s.Name,
		Spec:  s,
		File:  os.NewFile(uintptr(fd), "socket "+s.Name+" "+s.Path),
		fd:    fd,
		owned: id,
	}, tmp, nil
}

// unixTarget is the name bindUnix binds: a temporary one beside the path
// (viaTemp), or the path itself, once a stale socket file there is gone.
func unixTarget(s configs.Socket, viaTemp bool) (string, error) {
	if !viaTemp {
		return s.Path, clearUnixPath(s)
	}
	target := besideName(s.Path)
	if len(target) > maxUnixPath {
		return "", &Error{Socket: s.Name, Op: "bind", Addr: s.Path, Err: errors.New("no room for a temporary socket name next to the path"), Hint: "choose a shorter path"}
	}
	return target, nil
}

// isAbstract reports whether path names a socket in Linux's abstract
// namespace ("@name", as Go's net and zmq's ipc:// spell it): no file,
// no mode, nothing to remove; the name goes when its last fd closes.
func isAbstract(path string) bool { return strings.HasPrefix(path, "@") }

// bindAbstract binds and listens one abstract unix socket. A name a live
// process holds fails with "address already in use" (there is no stale
// file to replace).
func bindAbstract(s configs.Socket) (*Listener, string, error) {
	fail := func(op string, err error) (*Listener, string, error) {
		return nil, "", &Error{Socket: s.Name, Op: op, Addr: s.Path, Err: err, Hint: sysHint(err, s, "", 0)}
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fail("socket", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: s.Path}); err != nil {
		unix.Close(fd)
		return fail("bind", err)
	}
	if err := unix.SetNonblock(fd, s.NonBlocking); err != nil {
		unix.Close(fd)
		return fail("fcntl O_NONBLOCK", err)
	}
	if err := unix.Listen(fd, s.Backlog); err != nil {
		unix.Close(fd)
		return fail("listen", err)
	}
	return &Listener{Name: s.Name, Spec: s, File: os.NewFile(uintptr(fd), "socket "+s.Name+" "+s.Path), fd: fd}, "", nil
}

// besideName is a fresh hidden name in the directory of path.
func besideName(path string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return filepath.Join(filepath.Dir(path), ".poold-"+hex.EncodeToString(b[:]))
}

// commitUnix moves a socket bound at a temporary name over its real path
// (atomically: clients see the old socket or the new one, never nothing).
// The file it replaces (the old socket's) first gets a second name,
// kept: a hard link beside the path, so that an Apply failing after
// this rename can put the old file back (restoreUnix). Without that link
// (a file system that refuses it, or nothing at the path) kept is "".
func commitUnix(l *Listener, tmp string) (kept string, err error) {
	kept = besideName(l.Spec.Path)
	if unix.Link(l.Spec.Path, kept) != nil {
		kept = ""
	}
	if err := unix.Rename(tmp, l.Spec.Path); err != nil {
		dropKept(kept)
		return "", &Error{Socket: l.Name, Op: "rename", Addr: l.Spec.Path, Err: err,
			Hint: "the path changed while poold bound the new socket beside it; the reload was not applied: see what is there now, then reload again"}
	}
	l.owned.path = l.Spec.Path
	return kept, nil
}

// restoreUnix undoes a commitUnix: the file kept returns to the path.
func restoreUnix(path, kept string) {
	if kept != "" {
		_ = unix.Rename(kept, path)
	}
}

// dropKept removes the second name commitUnix gave an old socket's file.
func dropKept(kept string) {
	if kept != "" {
		_ = os.Remove(kept)
	}
}

// clearUnixPath makes room for binding s.Path: nothing there is fine; a
// stale socket is removed if s.ReplaceStale; anything else is an error.
func clearUnixPath(s configs.Socket) error {
	fail := func(err error, hint string) error {
		return &Error{Socket: s.Name, Op: "bind", Addr: s.Path, Err: err, Hint: hint}
	}
	fi, err := os.Lstat(s.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		err = unwrapPath(err)
		return fail(err, sysHint(err, s, "", 0))
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fail(ErrNotSocket, fmt.Sprintf("it is %s; poold never deletes it: remove it yourself or choose another path", describe(fi)))
	}
	live, err := probeUnix(s.Path)
	if err != nil {
		return fail(fmt.Errorf("cannot tell whether the existing socket file is in use: %w", err), "check the permissions of the file, or remove it if nothing uses it")
	}
	if live {
		return fail(ErrInUse, inUseHint(unixHolders(s.Path), unixFind(s.Path), "stop that process or choose another path"))
	}
	if !s.ReplaceStale {
		return fail(ErrStale, "remove the file, or set replace_stale = true to let poold replace it")
	}
	if err := os.Remove(s.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		err = unwrapPath(err)
		return fail(fmt.Errorf("remove stale socket file: %w", err), sysHint(err, s, "", 0))
	}
	return nil
}

// probeUnix connects to a socket file without blocking: refused means
// stale; accepted, a full backlog or a socket of another type means a
// live owner.
func probeUnix(path string) (live bool, err error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return false, err
	}
	defer unix.Close(fd)
	switch err := unix.Connect(fd, &unix.SockaddrUnix{Name: path}); err {
	case nil, unix.EAGAIN, unix.EINPROGRESS, unix.EPROTOTYPE:
		return true, nil
	case unix.ECONNREFUSED:
		return false, nil
	default:
		return false, err
	}
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func describe(fi fs.FileInfo) string {
	switch t := fi.Mode().Type(); {
	case t == 0:
		return "a regular file"
	case t&fs.ModeDir != 0:
		return "a directory"
	case t&fs.ModeSymlink != 0:
		return "a symbolic link"
	case t&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case t&fs.ModeDevice != 0:
		return "a device"
	default:
		return "not a socket"
	}
}

// chownHint says what to do when poold may not chown its socket.
func chownHint(s configs.Socket) string {
	if os.Geteuid() == 0 {
		return ""
	}
	return fmt.Sprintf("poold runs as uid %d: only root may give a file another owner, and a group only to one poold is a member of; drop owner (and group) or run poold as root", os.Geteuid())
}
