package main

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/poold/poold/arbiter/controller"
	"github.com/poold/poold/arbiter/upgrade"
	"github.com/poold/poold/events/zmqguard"
	"golang.org/x/sys/unix"
)

// The open control connections across an upgrade's exec: the old image
// freezes them (controller.HoldAll) and lists them in the state
// (State.Control) when the new binary says, in its --upgrade-check, that
// it takes them ("takes control-conns"); the new image gives them to its
// guard (zmqguard.InheritConn) before its control endpoint listens. A
// binary that does not say so gets none: the exec closes them, as before.

// takesConns is the word of --upgrade-check's "takes" line for it;
// takesCasts, for the casts that reached the old image's loop during its
// hand-over, which the new image runs (State.Casts).
const (
	takesConns = "control-conns"
	takesCasts = "control-casts"
)

// takes reports whether --upgrade-check's output has word in its
// "takes" line.
func takes(out, word string) bool {
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "takes "); ok && slices.Contains(strings.Fields(v), word) {
			return true
		}
	}
	return false
}

// handOffConns is Upgrader.Conns: the frozen control connections, each
// with a dup of its fd for the exec.
func handOffConns() (conns []upgrade.Conn, seal, cancel func()) {
	offs := controller.HandOffAll()
	for _, h := range offs {
		for _, c := range h.Conns {
			conns = append(conns, upgrade.Conn{Key: c.Key, FD: c.FD, Handshake: c.Handshake})
		}
	}
	return conns, func() {
			for _, h := range offs {
				h.Seal()
			}
		}, func() {
			for _, h := range offs {
				h.Cancel()
			}
		}
}

// inheritConns gives the guard the control connections the previous
// image handed over (st.Control); one that cannot be taken is closed
// (its client sees it close, as without a hand-over). An entry whose fd
// cannot be one (0-2, an fd the state names for something else, or
// already named by another entry, or one that is not a socket) is left
// alone: it is not this entry's to close. notOurs are other fds the
// hand-over used (the state's, the old binary's).
func inheritConns(st *upgrade.State, notOurs ...int) {
	named := map[int]bool{}
	for _, fd := range notOurs {
		named[fd] = true
	}
	others := *st
	others.Control = nil
	for _, fd := range others.FDs() {
		named[fd] = true
	}
	for i, c := range st.Control {
		if why := badConnFD(c.FD, named); why != "" {
			fmt.Fprintf(os.Stderr, "poold: upgrade: the state's control connection %d (fd %d, %s) is not taken: %s; the state is corrupt, left alone\n", i, c.FD, c.Key, why)
			continue
		}
		named[c.FD] = true // a second entry with it is refused
		network, addr, ok := zmqguard.SplitKey(c.Key)
		if !ok {
			fmt.Fprintf(os.Stderr, "poold: upgrade: control connection fd %d: listener key %q is not \"tcp ADDR\" or \"unix PATH\"; closed\n", c.FD, c.Key)
			_ = os.NewFile(uintptr(c.FD), "control connection").Close()
			continue
		}
		if err := zmqguard.InheritConn(network, addr, c.FD, c.Handshake); err != nil {
			fmt.Fprintf(os.Stderr, "poold: upgrade: control connection not taken over (its client reconnects): %v\n", err)
		}
	}
}

// badConnFD says why fd cannot be a handed-over connection ("" if it
// can): named holds the fds the state gives to something else.
func badConnFD(fd int, named map[int]bool) string {
	if fd < 3 {
		return "fds 0-2 are poold's stdin, stdout and stderr"
	}
	if named[fd] {
		return "the state names that fd for something else"
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return "fstat: " + err.Error()
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return "it is not a socket"
	}
	return ""
}
