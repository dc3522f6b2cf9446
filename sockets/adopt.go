package sockets

import (
	"errors"
	"fmt"
	"net/netip"
	"os"

	"golang.org/x/sys/unix"

	"github.com/poold/poold/configs"
)

// Inherited is a listening socket a new image of poold takes over by fd
// (in-place upgrade): its spec as the old image held it, and its fd.
type Inherited struct {
	Spec configs.Socket `json:"spec"`
	FD   int            `json:"fd"`
	// Passed: the service manager passed it to poold (BindPassed); its
	// unix socket file is not poold's to remove.
	Passed bool `json:"passed,omitempty"`
	// File is the unix socket file the old image bound (and would have
	// removed on close), by device and inode; nil when it held none.
	// FileKnown says File is given: an image older than these fields
	// hands over neither, and the file at the path is taken as poold's.
	File      *SocketFile `json:"file,omitempty"`
	FileKnown bool        `json:"file_known,omitempty"`
	// V6Only is whether a tcp socket takes IPv6 only, as bound; nil from
	// an image older than bind_ipv6_only, whose "::" sockets are IPv6
	// only and stay so until a reload changes their binding.
	V6Only *bool `json:"v6only,omitempty"`
}

// SocketFile names a unix socket file by device and inode, which a file
// put at its path later (a link, a socket of another process) does not
// share.
type SocketFile struct {
	Dev uint64 `json:"dev"`
	Ino uint64 `json:"ino"`
}

// Handover lists the Set's sockets with their fds, for a new image of
// poold. The fds must survive the exec (clear close-on-exec).
func (s *Set) Handover() []Inherited {
	var out []Inherited
	for _, l := range s.List() {
		in := Inherited{Spec: l.Spec, FD: l.fd, Passed: l.passed, FileKnown: true}
		if l.owned != nil {
			in.File = &SocketFile{Dev: l.owned.dev, Ino: l.owned.ino}
		}
		if l.Spec.Family != "unix" {
			v6only := l.v6only && !l.keepV6
			in.V6Only = &v6only
			if l.keepV6 {
				in.V6Only = nil // still the older build's: pass that on
			}
		}
		out = append(out, in)
	}
	return out
}

// Adopt builds a Set from sockets inherited by fd, marking each fd
// close-on-exec again. Every fd must be a listening socket; the unix
// socket file the old image bound is the Set's to remove on close (from
// an image that does not say which, the one found at its path).
func Adopt(socks []Inherited) (*Set, error) {
	s := &Set{byName: make(map[string]*Listener, len(socks))}
	var errs []error
	for _, in := range socks {
		l, err := adoptOne(in)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.byName[l.Name] = l
	}
	if err := errors.Join(errs...); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func adoptOne(in Inherited) (*Listener, error) {
	sp := in.Spec
	fail := func(op string, err error) (*Listener, error) {
		return nil, &Error{Socket: sp.Name, Op: op, Addr: fmt.Sprintf("fd %d", in.FD), Err: err,
			Hint: "the fd handed over by the previous image of poold is not its listening socket"}
	}
	if v, err := unix.GetsockoptInt(in.FD, unix.SOL_SOCKET, unix.SO_ACCEPTCONN); err != nil || v != 1 {
		if err == nil {
			err = errors.New("not listening")
		}
		return fail("adopt", err)
	}
	unix.CloseOnExec(in.FD)
	// Its blocking mode stays as it is: a Go worker has likely made it
	// non-blocking, and its runtime relies on that.
	l := &Listener{Name: sp.Name, Spec: sp, fd: in.FD, passed: in.Passed}
	if sp.Family == "unix" {
		l.owned = adoptedFile(in)
		l.File = os.NewFile(uintptr(in.FD), "socket "+sp.Name+" "+sp.Path)
		return l, nil
	}
	got, err := unix.Getsockname(in.FD)
	if err != nil {
		return fail("getsockname", err)
	}
	switch a := got.(type) {
	case *unix.SockaddrInet4:
		l.ip, l.port = netip.AddrFrom4(a.Addr), a.Port
	case *unix.SockaddrInet6:
		l.ip, l.port = netip.AddrFrom16(a.Addr), a.Port
		l.v6only = isV6Only(in.FD)
		l.keepV6 = in.V6Only == nil && !in.Passed
	default:
		return fail("adopt", fmt.Errorf("address family %T, want tcp", got))
	}
	l.File = os.NewFile(uintptr(in.FD), "socket "+sp.Name+" "+l.Addr())
	return l, nil
}

// adoptedFile is the unix socket file an adopted socket owns: the one the
// old image says it bound, or, from an image that does not say, the one
// at the path now.
func adoptedFile(in Inherited) *fileID {
	sp := in.Spec
	switch {
	case in.Passed || isAbstract(sp.Path):
		return nil
	case in.FileKnown && in.File == nil:
		return nil
	case in.FileKnown:
		return &fileID{path: sp.Path, dev: in.File.Dev, ino: in.File.Ino}
	}
	var st unix.Stat_t
	if err := unix.Lstat(sp.Path, &st); err != nil {
		return nil
	}
	return &fileID{path: sp.Path, dev: st.Dev, ino: st.Ino}
}
