package watcher

import (
	"fmt"
	"sort"
	"strings"
)

// A one-shot (respawn = false, or a status no_respawn_exit_codes lists)
// stops on its own once every worker has ended. That is no stop: nobody
// asked for it, and a waited start must say how the work ended, not that
// a stop canceled it. ranOut tells the two apart: reconcile sets it when
// the last worker's end stops the watcher; a start or a stop clears it.

// RanOut reports whether the watcher is stopped because each of its
// workers ended on its own, as respawn = false or no_respawn_exit_codes
// say, and nothing (a stop, rm, quit, a start) has acted on it since.
func (w *Watcher) RanOut() bool { return w.status == Stopped && w.ranOut }

// Ends words how the workers of a watcher that ran out ended, slot by
// slot (wid, pid, how it ended); hint says where the output of the first
// that failed went, and failed whether any ended badly (a status neither
// 0 nor listed in no_respawn_exit_codes, a signal, a failed start), as
// systemd's failed oneshot. "" when no slot exited.
func (w *Watcher) Ends() (words, hint string, failed bool) {
	var exited []*slot
	for _, s := range w.slots {
		if s.hold == HoldExited {
			exited = append(exited, s)
		}
	}
	sort.Slice(exited, func(i, j int) bool { return exited[i].wid < exited[j].wid })
	var parts []string
	for _, s := range exited {
		who := fmt.Sprintf("wid %d", s.wid)
		if s.lastPid != 0 {
			who = fmt.Sprintf("wid %d (pid %d)", s.wid, s.lastPid)
		}
		parts = append(parts, who+" "+s.lastExit)
		if s.badExit && !failed {
			failed = true
			hint = w.outputHint(s.lastPid, s.wid)
		}
	}
	if len(parts) == 0 {
		return "", "", false
	}
	return strings.Join(parts, "; "), hint, failed
}

// OneShotEnd words how a watcher that ran out ended, for the reply of a
// waited command that started it: ok says its work is done (every worker
// ended as configured); otherwise why it failed, with what to do.
func (w *Watcher) OneShotEnd() (why string, ok bool) {
	ends, hint, failed := w.Ends()
	off := "respawn is off"
	if w.spec.Respawn {
		off = "its status is listed in no_respawn_exit_codes"
	}
	if !failed {
		return fmt.Sprintf("watcher %q ran and ended: %s (%s, so it is done and stays stopped)", w.spec.Name, ends, off), true
	}
	return fmt.Sprintf("watcher %q ran and failed: %s, and respawn is off, so it stays stopped; %s; fix the cause, then run `start %s` "+
		"(or list the status in no_respawn_exit_codes if it means success)", w.spec.Name, ends, hint, w.spec.Name), false
}

// exitedBadly reports whether a slot's worker ended on its own, badly,
// with respawn off (slot.badExit): a failed one-shot, which Shown calls
// failed, as readiness does, until a start runs it again or a stop puts
// it at rest.
func (w *Watcher) exitedBadly() bool {
	if w.holdN[HoldExited] == 0 {
		return false
	}
	for _, s := range w.slots {
		if s.hold == HoldExited && s.badExit {
			return true
		}
	}
	return false
}
