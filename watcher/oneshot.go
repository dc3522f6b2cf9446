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
// slot (wid, pid, how it ended), those that failed first and at most
// maxEnds of them, then a count (endWords); hint says where the output of
// the first that failed went, and failed whether any ended badly (a
// status neither 0 nor listed in no_respawn_exit_codes, a signal, a
// failed start), as systemd's failed oneshot. "" when no slot exited.
func (w *Watcher) Ends() (words, hint string, failed bool) {
	return w.endWords(func(s *slot) bool { return true })
}

// FailedEnds words the slots of a watcher that still runs whose worker
// ended badly with respawn off (one worker of a one-shot failed while the
// others run), as OneShotEnd words a one-shot that failed; "" when none
// did.
func (w *Watcher) FailedEnds() string {
	if w.status == Stopped || !w.exitedBadly() {
		return ""
	}
	ends, hint, _ := w.endWords(func(s *slot) bool { return s.badExit })
	return fmt.Sprintf("watcher %q had a worker fail: %s, and respawn is off, so its slot stays empty while the others run; %s; "+
		"fix the cause, then run `restart %s` (or list the status in no_respawn_exit_codes if it means success)", w.spec.Name, ends, hint, w.spec.Name)
}

// maxEnds is how many exited slots endWords words in full; it counts the
// others: a one-shot of 200 workers made a reply of 8 KB.
const maxEnds = 3

// endWords words the exited slots that keep accepts, those that failed
// first, then by wid, at most maxEnds of them and a count of the rest;
// hint and failed as Ends.
func (w *Watcher) endWords(keep func(*slot) bool) (words, hint string, failed bool) {
	var exited []*slot
	for _, s := range w.slots {
		if s.hold == HoldExited && keep(s) {
			exited = append(exited, s)
		}
	}
	sort.Slice(exited, func(i, j int) bool {
		if exited[i].badExit != exited[j].badExit {
			return exited[i].badExit
		}
		return exited[i].wid < exited[j].wid
	})
	var parts []string
	for i, s := range exited {
		if i == maxEnds {
			parts = append(parts, w.moreEnds(exited[i:]))
			break
		}
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

// moreEnds counts the exited slots endWords does not word: how many, how
// many of them failed, their wids.
func (w *Watcher) moreEnds(rest []*slot) string {
	bad := 0
	for _, s := range rest {
		if s.badExit {
			bad++
		}
	}
	how := "ended as configured"
	switch {
	case bad == len(rest):
		how = "failed too"
	case bad > 0:
		how = fmt.Sprintf("ended, %d of them badly", bad)
	}
	return fmt.Sprintf("and %d more %s (%s): `poolctl status %s` shows each", len(rest), how, widList(rest), w.spec.Name)
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

// EndedPids lists the pids of the workers whose slots stay empty because
// they ended with respawn off, sorted: a waited start lists them among
// the pids it started, as circusd does, although they are gone.
func (w *Watcher) EndedPids() []int {
	var out []int
	for _, s := range w.slots {
		if s.hold == HoldExited && s.lastPid != 0 {
			out = append(out, s.lastPid)
		}
	}
	sort.Ints(out)
	return out
}
