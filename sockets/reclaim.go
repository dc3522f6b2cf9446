package sockets

import (
	"os"

	"golang.org/x/sys/unix"

	"github.com/poold/poold/configs"
)

// reclaim returns a socket for the tcp spec sp made from one an earlier
// Apply took out of the Set and has not closed yet (its workers were
// still stopping) whose spec is sp's but for the name: a new fd on the
// same listening socket, which the earlier Apply's closeRemoved leaves
// open. Binding it afresh would fail, poold holding the port, and a
// reload that puts back a socket it just removed (SIGHUPs in a row) would
// be refused. nil if there is none. A unix socket is not reclaimed: its
// closeRemoved removes the file. Call with the Set's lock held.
func (s *Set) reclaim(sp configs.Socket, v6only bool) *Listener {
	if sp.Family == "unix" || sp.Port == 0 {
		return nil
	}
	for _, g := range s.draining {
		if l := g.dup(sp, v6only); l != nil {
			return l
		}
	}
	return nil
}

// dup is reclaim for one group.
func (g *drainGroup) dup(sp configs.Socket, v6only bool) *Listener {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil
	}
	for _, l := range g.ls {
		if l.passed || l.Spec != withName(sp, l.Name) || !l.fitsFamily(sp, v6only) {
			continue
		}
		fd, err := unix.FcntlInt(uintptr(l.fd), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return nil // out of fds: bind reports it
		}
		back := *l
		back.Name, back.Spec, back.fd = sp.Name, sp, fd
		back.File = os.NewFile(uintptr(fd), "socket "+sp.Name+" "+l.Addr())
		return &back
	}
	return nil
}
