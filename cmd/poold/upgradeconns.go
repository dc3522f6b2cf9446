package main

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/poold/poold/arbiter/controller"
	"github.com/poold/poold/arbiter/upgrade"
	"github.com/poold/poold/events/zmqguard"
)

// The open control connections across an upgrade's exec: the old image
// freezes them (controller.HoldAll) and lists them in the state
// (State.Control) when the new binary says, in its --upgrade-check, that
// it takes them ("takes control-conns"); the new image gives them to its
// guard (zmqguard.InheritConn) before its control endpoint listens. A
// binary that does not say so gets none: the exec closes them, as before.

// takesConns is the word of --upgrade-check's "takes" line for it.
const takesConns = "control-conns"

// nextTakesConns: the last pre-flight's binary takes the connections.
var nextTakesConns atomic.Bool

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
// image handed over; one that cannot be taken is closed (its client sees
// it close, as without a hand-over).
func inheritConns(conns []upgrade.Conn) {
	for _, c := range conns {
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
