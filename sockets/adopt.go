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
}

// Handover lists the Set's sockets with their fds, for a new image of
// poold. The fds must survive the exec (clear close-on-exec).
func (s *Set) Handover() []Inherited {
	var out []Inherited
	for _, l := range s.List() {
		out = append(out, Inherited{Spec: l.Spec, FD: l.fd, Passed: l.passed})
	}
	return out
}

// Adopt builds a Set from sockets inherited by fd, marking each fd
// close-on-exec again. Every fd must be a listening socket; a unix socket
// file found at its path is the Set's to remove on close.
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
		var st unix.Stat_t
		if err := unix.Lstat(sp.Path, &st); err == nil && !in.Passed && !isAbstract(sp.Path) {
			l.owned = &fileID{path: sp.Path, dev: st.Dev, ino: st.Ino}
		}
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
	default:
		return fail("adopt", fmt.Errorf("address family %T, want tcp", got))
	}
	l.File = os.NewFile(uintptr(in.FD), "socket "+sp.Name+" "+l.Addr())
	return l, nil
}
