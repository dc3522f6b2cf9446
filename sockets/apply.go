package sockets

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/poold/poold/configs"
)

// Apply makes the Set hold exactly specs (a live config reload):
//
//   - a socket whose spec is unchanged is kept: same *Listener, same fd;
//   - one renamed (a new name on the endpoint of a name specs drop) keeps
//     its fd under the new name;
//   - one whose backlog or unix mode changed keeps its fd, changed in place;
//   - new and otherwise changed ones are bound first, all or none: on any
//     error nothing in the Set changes and the error lists every failure;
//   - removed and replaced ones leave the Set at once, but their fds stay
//     open until the caller calls closeRemoved, after the workers using
//     them have stopped. closeRemoved is never nil and is idempotent;
//   - a tcp socket put back (under any name) while an earlier Apply's
//     closeRemoved has not run keeps listening: it gets a dup of that fd.
//
// A unix socket whose path poold itself holds is bound at a temporary
// name in the same directory and renamed over the path, so clients never
// find the path missing. A tcp address can move to a changed socket only
// when both old and new set reuseport; otherwise bind reports the address
// in use, naming poold's own socket that holds it.
func (s *Set) Apply(specs []configs.Socket) (closeRemoved func() error, err error) {
	noop := func() error { return nil }
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return noop, ErrClosed
	}
	norm, err := normalizeAll(specs)
	if err != nil {
		return noop, err
	}
	p, err := s.plan(norm)
	if err != nil {
		return noop, err
	}
	if err := p.commit(); err != nil {
		return noop, err
	}
	removed := s.leaving(p.next)
	s.byName = p.next
	s.draining = slices.DeleteFunc(s.draining, (*drainGroup).isClosed)
	g := &drainGroup{ls: removed}
	if len(removed) > 0 {
		s.draining = append(s.draining, g)
	}
	return closeOnce(g), nil
}

// applyPlan is what Apply will do: the sockets kept as they are (in next
// from the start), the ones changed in place and the ones bound afresh.
type applyPlan struct {
	next   map[string]*Listener
	fresh  []freshBind
	tweaks []tweak
}

// freshBind is a socket bound for Apply, not yet in the Set.
type freshBind struct {
	l   *Listener
	tmp string // temporary unix name to rename over l.Spec.Path
}

// plan sorts the specs into kept, changed in place and new, binding every
// new one. It binds all or none: on any failure it closes what it bound
// and returns every failure joined.
func (s *Set) plan(norm []configs.Socket) (*applyPlan, error) {
	p := &applyPlan{next: make(map[string]*Listener, len(norm))}
	var errs []error
	renamed := s.renames(norm)
	for _, sp := range norm {
		v6only := configs.IPv6Only(sp, norm)
		cur := s.byName[sp.Name]
		if cur == nil {
			cur = renamed[sp.Name]
		}
		if cur != nil && !cur.fitsFamily(sp, v6only) {
			cur = nil // "::" IPv6 only or not is fixed at bind: bind anew
		}
		switch {
		case cur != nil && cur.Name != sp.Name && cur.Spec == withName(sp, cur.Name):
			l := *cur // a renamed socket: same fd, under its new name
			l.Name, l.Spec = sp.Name, sp
			p.next[sp.Name] = &l
		case cur != nil && cur.Spec == sp:
			p.next[sp.Name] = cur
		case cur != nil && SameEndpoint(withName(cur.Spec, sp.Name), sp):
			p.tweaks = append(p.tweaks, tweak{old: cur, spec: sp, wasNonBlock: hasNonBlock(cur.fd)})
		case sp.Family == "unix":
			l, tmp, err := bindUnix(sp, s.holdsPath(sp))
			if err != nil {
				errs = append(errs, err)
				continue
			}
			p.fresh = append(p.fresh, freshBind{l, tmp})
		default:
			if l := s.reclaim(sp, v6only); l != nil {
				p.fresh = append(p.fresh, freshBind{l: l})
				continue
			}
			l, err := bindTCP(sp, v6only)
			if err != nil {
				errs = append(errs, s.explainOwnPort(err, sp, v6only, p.fresh))
				continue
			}
			p.fresh = append(p.fresh, freshBind{l: l})
		}
	}
	if len(errs) > 0 {
		p.unbind()
		return nil, errors.Join(errs...)
	}
	return p, nil
}

// renames finds the sockets a reload renames: for each new name in norm,
// the Set's socket on the same endpoint (not tcp port 0) whose own name
// norm drops. Such a socket keeps its fd under the new name instead of
// being bound again (which, for tcp, failed: poold held the port).
func (s *Set) renames(norm []configs.Socket) map[string]*Listener {
	named := make(map[string]bool, len(norm))
	for _, sp := range norm {
		named[sp.Name] = true
	}
	out := map[string]*Listener{}
	taken := map[*Listener]bool{}
	for _, sp := range norm {
		if s.byName[sp.Name] != nil || (sp.Family != "unix" && sp.Port == 0) {
			continue // a new socket on port 0 is a new port, not a rename
		}
		for _, l := range s.listLocked() {
			if !named[l.Name] && !taken[l] && SameEndpoint(withName(l.Spec, sp.Name), sp) {
				out[sp.Name], taken[l] = l, true
				break
			}
		}
	}
	return out
}

// fitsFamily reports whether l, bound earlier, takes the families sp
// wants (v6only: configs.IPv6Only): a socket on "::" is IPv6 only or
// dual-stack from its bind on. A socket from systemd keeps what systemd
// made it (BindIPv6Only=), and one an older build handed over keeps what
// it was (IPv6 only) while the config leaves bind_ipv6_only unset.
func (l *Listener) fitsFamily(sp configs.Socket, v6only bool) bool {
	switch {
	case l.passed || sp.Family == "unix" || !configs.IsWildcard6(sp.Host) || !l.ip.IsUnspecified() || !l.ip.Is6():
		return true
	case l.keepV6 && sp.BindIPv6Only == "":
		return true
	}
	return l.v6only == v6only
}

// withName is sp called name.
func withName(sp configs.Socket, name string) configs.Socket {
	sp.Name = name
	return sp
}

// unbind closes the sockets the plan bound.
func (p *applyPlan) unbind() {
	for _, f := range p.fresh {
		_ = f.l.close() // removes the temporary or new unix file too
	}
}

// commit changes the tweaked sockets in place, then puts the new ones at
// their paths, filling next. On a failure it undoes what it can and
// returns the error; the Set is not touched either way.
func (p *applyPlan) commit() error {
	for i, t := range p.tweaks {
		if err := t.apply(); err != nil {
			p.undo(i + 1)
			return err
		}
		l := *t.old
		l.Name, l.Spec = t.spec.Name, t.spec
		l.keepV6 = l.keepV6 && t.spec.BindIPv6Only == ""
		p.next[l.Name] = &l
	}
	// Renames come last. A rename in the directory where bind just
	// succeeded fails only if the directory changed under us; then the
	// error says so, and the old sockets' files that earlier renames
	// replaced go back to their paths (commitUnix kept a link to each)
	// before the new sockets close, so the Set stays as it was.
	type renamed struct{ path, kept string }
	var done []renamed
	for _, f := range p.fresh {
		if f.tmp != "" {
			kept, err := commitUnix(f.l, f.tmp)
			if err != nil {
				for _, r := range slices.Backward(done) {
					restoreUnix(r.path, r.kept)
				}
				p.undo(len(p.tweaks))
				return err
			}
			done = append(done, renamed{f.l.Spec.Path, kept})
		}
		p.next[f.l.Name] = f.l
	}
	for _, r := range done {
		dropKept(r.kept)
	}
	return nil
}

// undo reverts the first n tweaks (a failed one included: it may have
// half happened) and closes what the plan bound.
func (p *applyPlan) undo(n int) {
	for _, done := range p.tweaks[:n] {
		_ = done.revert()
	}
	p.unbind()
}

// leaving lists the Set's sockets whose fd is not in next.
func (s *Set) leaving(next map[string]*Listener) []*Listener {
	inUse := make(map[int]bool, len(next))
	for _, l := range next {
		inUse[l.fd] = true
	}
	var removed []*Listener
	for _, l := range s.listLocked() {
		if !inUse[l.fd] {
			removed = append(removed, l)
		}
	}
	return removed
}

// closeOnce returns the closeRemoved of an Apply: it closes what the
// Apply took out of the Set the first time it is called and returns the
// same result every time.
func closeOnce(g *drainGroup) func() error {
	var once sync.Once
	var cerr error
	return func() error {
		once.Do(func() {
			g.mu.Lock()
			defer g.mu.Unlock()
			var errs []error
			for _, l := range g.ls {
				if err := l.close(); err != nil {
					errs = append(errs, fmt.Errorf("sockets: %s: close: %w", l.Name, err))
				}
			}
			g.closed = true
			cerr = errors.Join(errs...)
		})
		return cerr
	}
}

// tweak is an in-place change of backlog, unix mode, owner, group or
// blocking mode on a kept socket.
type tweak struct {
	old  *Listener
	spec configs.Socket
	// wasNonBlock: the socket had O_NONBLOCK before the reload (a revert
	// of blocking = false puts it back as it was).
	wasNonBlock bool
}

func (t tweak) apply() error { return t.set(t.spec, t.old.Spec) }

func (t tweak) revert() error { return t.set(t.old.Spec, t.spec) }

// set moves the socket from spec from to spec to.
func (t tweak) set(to, from configs.Socket) error {
	l := t.old
	if to.Backlog != from.Backlog && !l.passed { // a passed socket's is systemd's (Backlog=)
		// listen on a listening socket only changes its backlog.
		if err := unix.Listen(l.fd, to.Backlog); err != nil {
			return &Error{Socket: l.Name, Op: "listen", Addr: l.Addr(), Err: err, Hint: sysHint(err, to, l.Host(), l.port)}
		}
	}
	// O_NONBLOCK is set for blocking = false, never cleared for true: a
	// Go worker sets it itself, and its runtime relies on it (cleared, its
	// accept blocks a thread and its stop waits for SIGKILL). A revert puts
	// back the mode the socket had. systemd's socket keeps its mode.
	switch nb := t.wasNonBlock; {
	case l.passed || to.NonBlocking == from.NonBlocking:
	case to.NonBlocking || from.NonBlocking && !nb:
		if err := unix.SetNonblock(l.fd, to.NonBlocking); err != nil {
			return &Error{Socket: l.Name, Op: "fcntl O_NONBLOCK", Addr: l.Addr(), Err: err}
		}
	}
	// An abstract socket has no file; a passed one's mode and owner are
	// the service manager's (SocketMode=, SocketUser=), as at start.
	if to.Family != "unix" || isAbstract(to.Path) || l.passed {
		return nil
	}
	chmod := to.Mode != from.Mode
	back := to
	if to.Owner == from.Owner && to.Group == from.Group {
		back.Owner, back.Group = "", "" // no chown
	} else {
		// Unset owner or group goes back to poold's own.
		if back.Owner == "" && from.Owner != "" {
			back.Owner = strconv.Itoa(os.Geteuid())
		}
		if back.Group == "" && from.Group != "" {
			back.Group = strconv.Itoa(os.Getegid())
		}
	}
	if !chmod && back.Owner == "" && back.Group == "" {
		return nil
	}
	// Through the file poold bound, never a link put at its path.
	return setSocketFile(l.Name, l.Spec.Path, back, l.owned, chmod)
}

// hasNonBlock reports whether fd's open file has O_NONBLOCK (false if it
// cannot be read).
func hasNonBlock(fd int) bool {
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	return err == nil && fl&unix.O_NONBLOCK != 0
}
