package sockets

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"syscall"

	"github.com/poold/poold/configs"
)

// Sentinel errors, found with errors.Is through an *Error.
var (
	// ErrInUse: a unix socket path answers connections (a live process owns it).
	ErrInUse = errors.New("in use by a running process")
	// ErrStale: a unix socket path exists but nobody listens on it, and
	// ReplaceStale is off.
	ErrStale = errors.New("a stale socket file exists (nobody listens on it)")
	// ErrNotSocket: the unix socket path exists and is not a socket.
	ErrNotSocket = errors.New("path exists and is not a socket")
	// ErrUnknown: Handoff was asked for a socket the Set does not hold.
	ErrUnknown = errors.New("unknown socket")
	// ErrInvalid: a socket spec is malformed (see the message for the field).
	ErrInvalid = errors.New("invalid socket spec")
	// ErrClosed: the Set was closed.
	ErrClosed = errors.New("sockets: set is closed")
)

// Error reports what went wrong with one socket. Its message reads
//
//	sockets: web: bind 127.0.0.1:8000: address already in use (pid 812 (nginx: master process) holds it; stop that process or choose another port)
//
// or, once the caller has set File and Key,
//
//	sockets: poold.toml: sockets.web: bind 127.0.0.1:8000: address already in use (...)
//
// Err is usually a syscall.Errno or one of the sentinels above, so
// errors.Is(err, syscall.EADDRINUSE) and errors.Is(err, ErrStale) work.
// Several failures are returned together with errors.Join.
type Error struct {
	Socket string // the socket's name
	Op     string // "bind", "listen", "resolve", "handoff", ... or "" for a bad spec
	Addr   string // "127.0.0.1:8000", "[::1]:8000", the unix path, or ""
	Err    error
	Hint   string // what to do about it; may be ""
	// File and Key say where the socket is defined, e.g. "poold.toml"
	// and "sockets.web". The package knows neither (Bind and Apply take
	// bare specs): the caller that loaded the config sets them.
	File, Key string
}

func (e *Error) Error() string {
	s := "sockets: "
	if e.File != "" {
		s += e.File + ": "
	}
	if e.Key != "" {
		s += e.Key + ": "
	} else {
		s += e.Socket + ": "
	}
	if e.Op != "" {
		s += e.Op + " "
		if e.Addr != "" {
			s += e.Addr + " "
		}
		s = s[:len(s)-1] + ": "
	}
	s += e.Err.Error()
	if e.Hint != "" {
		s += " (" + e.Hint + ")"
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Errors lists the *Error in err and in the errors it joins.
func Errors(err error) []*Error {
	var out []*Error
	var walk func(error)
	walk = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		var e *Error
		if errors.As(err, &e) {
			out = append(out, e)
		}
	}
	walk(err)
	return out
}

// invalid builds the error for a malformed spec.
func invalid(name, format string, args ...any) error {
	return &Error{Socket: name, Err: fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))}
}

// sysHint says what to do about an errno from socket/bind/listen.
// port is the port asked for (tcp), 0 otherwise.
func sysHint(err error, spec configs.Socket, host string, port int) string {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return ""
	}
	unixSock := spec.Family == "unix"
	switch errno {
	case syscall.EADDRINUSE:
		if unixSock && isAbstract(spec.Path) {
			// No file, so nothing "created meanwhile": a live process holds the name.
			return inUseHint(unixHolders(spec.Path), unixFind(spec.Path), "stop that process or choose another name")
		}
		if unixSock {
			return inUseHint(unixHolders(spec.Path), unixFind(spec.Path), "a socket was created at this path meanwhile: stop that process or choose another path")
		}
		return tcpInUseHint(host, port, false)
	case syscall.EACCES, syscall.EPERM:
		if unixSock {
			return fmt.Sprintf("poold's user may not create files in %s; fix the directory's permissions or choose another path", filepath.Dir(spec.Path))
		}
		if start := configs.UnprivilegedPortStart(); port > 0 && port < start {
			return fmt.Sprintf("ports below %d (sysctl net.ipv4.ip_unprivileged_port_start) need root or CAP_NET_BIND_SERVICE; grant poold that capability or choose a port >= %d", start, start)
		}
		return "the operating system refused; check security policies (SELinux, AppArmor, seccomp)"
	case syscall.EADDRNOTAVAIL:
		return fmt.Sprintf("%s is not an address of this machine; use one of its addresses, 127.0.0.1 or 0.0.0.0", host)
	case syscall.EAFNOSUPPORT:
		return "this machine does not support that address family; use another host or family"
	case syscall.ENOENT, syscall.ENOTDIR:
		if unixSock {
			return noDirHint(filepath.Dir(spec.Path))
		}
	case syscall.EROFS:
		return "the file system is read-only; choose another path"
	case syscall.EMFILE, syscall.ENFILE:
		return "too many open files; raise poold's nofile limit"
	}
	return ""
}

// tcpInUseHint is sysHint's for a tcp host:port another process holds.
// dual says poold bound "::" dual-stack: where the holders hold IPv4
// addresses only (another program on 0.0.0.0, which could share the
// port while "::" was IPv6 only, before bind_ipv6_only), binding it IPv6
// only is a way out too.
func tcpInUseHint(host string, port int, dual bool) string {
	var h holders
	if ip, err := netip.ParseAddr(host); err == nil {
		h = tcpHolders(ip, port)
	}
	todo := "stop that process or choose another port"
	if dual && h.only4 {
		todo += `, or set bind_ipv6_only = "ipv6-only" on this socket to leave IPv4 at this port to it`
	}
	return inUseHint(h, tcpFind(port), todo)
}

// noDirHint says why a unix socket cannot be created in dir (bind said
// ENOENT or ENOTDIR): dir is missing, is not a directory, or is one that
// takes no new files, such as /proc or /sys.
func noDirHint(dir string) string {
	fi, err := os.Stat(dir)
	switch {
	case err != nil:
		return fmt.Sprintf("directory %s does not exist; create it first", dir)
	case !fi.IsDir():
		return fmt.Sprintf("%s is not a directory; choose a path in a directory", dir)
	}
	return fmt.Sprintf("directory %s takes no new files (a virtual file system such as /proc or /sys); choose a path on an ordinary file system, such as under /run or /tmp", dir)
}
