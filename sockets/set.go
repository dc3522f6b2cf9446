// Package sockets binds poold's listening sockets and hands them to workers.
//
// Bind turns the [sockets.NAME] specs of a config into listening sockets
// (tcp over IPv4 or IPv6, and unix), all or none, before any worker starts.
// Every fd is blocking and close-on-exec in poold; Handoff lists the files
// a watcher inherits at fds 3, 4, ... and the LISTEN_FDS / LISTEN_FDNAMES
// variables that describe them (LISTEN_PID is set by poold's exec step,
// which alone knows the worker's pid). Apply moves a live Set to a
// reloaded config without closing sockets whose spec did not change.
// The package logs nothing: every failure is a returned *Error (or several
// joined with errors.Join) that names the socket and the address.
//
// Concurrency: a *Set is safe for concurrent use; a small mutex serialises
// its methods. Bind and Apply block for their system calls and, for a host
// given by name rather than address, a lookup of at most 10 s; run them
// where blocking is allowed. A *Listener is immutable once published.
// The package starts no goroutines.
//
// Lifecycle of one socket across reloads:
//
//	Bind/Apply: bound ──(spec unchanged)──────────────> kept, same fd
//	                   ──(backlog or mode changed)─────> kept, same fd, changed in place
//	                   ──(renamed, same endpoint)──────> kept, same fd, new name
//	                   ──(anything else, or removed)───> out of the Set at once,
//	                                                     closed by closeRemoved()
//	draining (tcp) ────(put back before that)──────────> a dup of its fd, listening
package sockets

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/poold/poold/configs"
)

// Set is the collection of sockets poold holds, by name. The zero Set is
// empty and ready for Apply.
type Set struct {
	mu     sync.Mutex
	byName map[string]*Listener
	closed bool
	// draining are the sockets earlier Applies took out of the Set whose
	// closeRemoved has not run yet: poold still holds their ports.
	draining []*drainGroup
	// released are the sockets Release took out of the Set: their fds
	// are closed, their unix files stay until Close.
	released []*Listener
}

// drainGroup is what one Apply took out of the Set, until its
// closeRemoved closes it. closeRemoved runs without the Set's lock, so
// the group has its own: a later Apply that takes a socket back dups its
// fd under it, never one closed (and maybe reused) meanwhile.
type drainGroup struct {
	mu     sync.Mutex
	ls     []*Listener
	closed bool
}

// isClosed reports whether the group's closeRemoved has run.
func (g *drainGroup) isClosed() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.closed
}

// Bind binds and listens every spec, all or none: if any socket fails,
// the ones already bound are closed (unix files poold created removed)
// and the error lists every socket that failed.
func Bind(specs []configs.Socket) (*Set, error) {
	return bindFreeing(specs, nil)
}

func bindFreeing(specs []configs.Socket, free func(error) bool) (*Set, error) {
	s := &Set{}
	if _, err := s.ApplyFreeing(specs, free); err != nil {
		return nil, err
	}
	return s, nil
}

// ApplyFreeing is Apply, but when it fails it asks free (nil: never),
// with the error, whether it freed some address a socket could not have
// (HolderPids): it ended what held it. Then it applies specs once more,
// and that error (or none) is the one returned.
func (s *Set) ApplyFreeing(specs []configs.Socket, free func(error) bool) (closeRemoved func() error, err error) {
	closeRemoved, err = s.Apply(specs)
	if err != nil && free != nil && free(err) {
		closeRemoved, err = s.Apply(specs)
	}
	return closeRemoved, err
}

// Get returns the socket called name.
func (s *Set) Get(name string) (*Listener, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.byName[name]
	return l, ok
}

// List returns every socket, sorted by fd.
func (s *Set) List() []*Listener {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.listLocked()
}

func (s *Set) listLocked() []*Listener {
	out := make([]*Listener, 0, len(s.byName))
	for _, l := range s.byName {
		out = append(out, l)
	}
	slices.SortFunc(out, func(a, b *Listener) int { return a.fd - b.fd })
	return out
}

// Inodes are the socket inodes of every listener poold holds: the Set's,
// and those an Apply took out of it whose closeRemoved has not run yet
// (a reload's old socket, still serving its old workers). A caller that
// finds the listeners on an address another way (sock_diag) tells by
// them which are poold's own.
func (s *Set) Inodes() map[uint64]bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	inodes := map[uint64]bool{}
	add := func(l *Listener) {
		var st unix.Stat_t
		if unix.Fstat(l.fd, &st) == nil {
			inodes[st.Ino] = true
		}
	}
	for _, l := range s.byName {
		add(l)
	}
	for _, g := range s.draining {
		g.mu.Lock()
		if !g.closed {
			for _, l := range g.ls {
				add(l)
			}
		}
		g.mu.Unlock()
	}
	return inodes
}

// Close closes every socket and removes the unix socket files poold
// created. Sockets handed out by an earlier Apply's closeRemoved are not
// affected: call that function too. Close is idempotent.
func (s *Set) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, l := range append(s.listLocked(), s.released...) {
		if err := l.close(); err != nil {
			errs = append(errs, fmt.Errorf("sockets: %s: close: %w", l.Name, err))
		}
	}
	s.byName, s.released = nil, nil
	s.closed = true
	return errors.Join(errs...)
}

// normalizeAll checks every spec and the clashes between them, reporting
// every problem at once.
func normalizeAll(specs []configs.Socket) ([]configs.Socket, error) {
	var errs []error
	out := make([]configs.Socket, 0, len(specs))
	names := make(map[string]bool, len(specs))
	paths := make(map[string]string)
	for _, sp := range specs {
		n, err := normalize(sp)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if names[n.Name] {
			errs = append(errs, invalid(n.Name, "defined twice"))
			continue
		}
		names[n.Name] = true
		if n.Family == "unix" {
			k := unixKey(n)
			if other, ok := paths[k]; ok {
				errs = append(errs, invalid(n.Name, "path %s is also the path of socket %q", n.Path, other))
				continue
			}
			paths[k] = n.Name
		}
		out = append(out, n)
	}
	return out, errors.Join(errs...)
}

// holdsPath reports whether one of the Set's own sockets sits at sp's path.
func (s *Set) holdsPath(sp configs.Socket) bool {
	k := unixKey(sp)
	for _, l := range s.byName {
		if l.Spec.Family == "unix" && unixKey(l.Spec) == k {
			return true
		}
	}
	return false
}

// explainOwnPort improves an "address in use" when poold itself holds
// the port: one of the Set's sockets, one an earlier reload took out of
// the Set but has not closed yet, or one this Apply bound (fresh) for
// another spec of the same config.
func (s *Set) explainOwnPort(err error, sp configs.Socket, v6only bool, fresh []freshBind) error {
	var e *Error
	if sp.Port == 0 || !errors.Is(err, syscall.EADDRINUSE) || !errors.As(err, &e) {
		return err
	}
	if cur := s.byName[sp.Name]; cur != nil && cur.port == sp.Port && !cur.fitsFamily(sp, v6only) {
		e.Hint = familyHint(cur, sp, v6only)
	} else if hint := s.ownPortHint(sp.Port, fresh); hint != "" {
		e.Hint = hint
	}
	return err
}

func (s *Set) ownPortHint(port int, fresh []freshBind) string {
	onPort := func(l *Listener) bool { return l.Spec.Family != "unix" && l.port == port }
	for _, l := range s.listLocked() {
		if onPort(l) {
			return fmt.Sprintf("poold's own socket %q holds this port until the reload completes; a changed socket can take over a port only when old and new both set reuseport: use another port, or restart poold", l.Name)
		}
	}
	for _, g := range s.draining {
		for _, l := range g.ls {
			if onPort(l) && !g.isClosed() {
				return fmt.Sprintf("poold's old socket %q still holds this port: a reload under way replaced or removed it, and closes it once the workers that use it have stopped; retry after that reload completes, or use another port", l.Name)
			}
		}
	}
	for _, f := range fresh {
		if onPort(f.l) {
			return fmt.Sprintf("socket %q of the same config is bound to this port (%s); give one of them another port", f.l.Name, f.l.Addr())
		}
	}
	return ""
}

// familyHint explains a reload refused because socket sp on "::" must
// change between IPv6 only and dual-stack, which only a new bind does,
// while poold's socket cur holds the port.
func familyHint(cur *Listener, sp configs.Socket, v6only bool) string {
	is, keep := "dual-stack (IPv4 too)", configs.BindBoth
	if cur.v6only {
		is, keep = "IPv6 only", configs.BindIPv6Only
	}
	var why string
	switch {
	case sp.BindIPv6Only != "":
		why = "bind_ipv6_only = \"" + sp.BindIPv6Only + "\""
	case v6only:
		why = "another socket of the config binds IPv4 at this port"
	default:
		why = "no other socket binds IPv4 at this port"
	}
	want := "dual-stack"
	if v6only {
		want = "IPv6 only"
	}
	other := fmt.Sprintf("set bind_ipv6_only = %q to keep the socket as it is", keep)
	if v6only && sp.BindIPv6Only == "" {
		other = "give the IPv4 socket another port" // "both" beside it is refused
	}
	return fmt.Sprintf("poold's socket %q on this port was bound %s, and the kernel fixes that at bind; the config wants it %s (%s), which needs the port free: restart poold to apply it, or %s", cur.Name, is, want, why, other)
}
