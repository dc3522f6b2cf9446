package watcher

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/poold/poold/events"
)

// A slot is in a crash loop from the first early death of its worker
// until a worker of it lives the crash policy's "early" (backoff_reset,
// or flapping_window when shorter): through its backoffs, its pauses and
// the short lives of the workers in between. The watcher shows
// `flapping` for the whole loop, not only while a slot pauses, so a
// status that a monitor polls never reads `active` for a pool whose
// workers keep dying (or cannot be started at all).

// inLoop reports whether s is in a crash loop and still has a seat (it
// waits to start again, or a worker runs in it). A slot a scale-down
// dropped keeps its history but is not in a loop, nor is one whose last
// worker poold stopped on purpose (an idle or scale-down stop, a reload):
// the worker now there is no respawn after a death, and its own early
// death takes the history up again. One early death is not
// a loop either: a kill -9 or an OOM kill of a worker younger than
// backoff_reset is replaced after a short backoff and the watcher stays
// active. A loop is two early deaths in a row, a pause, or a worker that
// could not even be spawned.
func (w *Watcher) inLoop(s *slot) bool {
	if s == nil || s.counters == (Counters{}) || s.pastDeaths {
		return false
	}
	switch s.hold {
	case HoldExited:
		return false
	case HoldNone:
		if w.widProcs[s.wid] == 0 {
			return false
		}
	}
	return s.counters.Streak >= 2 || s.counters.Pauses > 0 || s.hold == HoldPaused || s.hold == HoldFailed ||
		strings.HasPrefix(s.lastExit, spawnErrorPrefix)
}

// looped reports whether a slot is in a crash loop (see inLoop).
func (w *Watcher) looped() bool {
	for wid := range w.looping {
		if w.inLoop(w.slots[wid]) {
			return true
		}
	}
	return false
}

// armSurvival arms the timer that ends the crash loop of p's slot once p
// has lived long enough, when the slot is in one.
func (w *Watcher) armSurvival(p *Process, now time.Time) {
	if !w.looping[p.Wid] || p.State == ProcStopping {
		return
	}
	left := max(w.policy.Early-now.Sub(p.Started), 0)
	w.host.After(left, Timer{Watcher: w.id, Kind: TimerSurvived, Pid: p.Pid, Wid: p.Wid, Gen: p.gen})
}

// survived ends the crash loop of p's slot: p lived the crash policy's
// "early", so its death would start the slot's history over anyway.
func (w *Watcher) survived(p *Process) {
	s := w.slots[p.Wid]
	if p.State == ProcStopping || s == nil || s.counters == (Counters{}) {
		return
	}
	uptime := w.host.Now().Sub(p.Started)
	w.log.Info("a worker of a crash-looping slot lived long enough; the slot counts as healthy again",
		"pid", p.Pid, "wid", p.Wid, "uptime", uptime)
	looped := w.inLoop(s)
	w.setCounters(s, Counters{})
	if looped {
		// Nothing else happens now: without this, a subscriber (and
		// the console, which refreshes on events) kept "flapping".
		w.host.Publish(w.spec.Name, events.KindRecovered, map[string]any{
			"process_pid": p.Pid, "process_id": p.Wid, "uptime": uptime.Seconds(), "status": string(w.Status()),
		})
		w.said = true
	}
}

// noteRecovery notes when the watcher, running, is no longer flapping and
// survived has not said so: its crash loops ended on purpose (a
// scale-down dropped the slot, a reload or an elastic pool's stop
// replaced its worker, a start of a paused slot). If it does not flap
// again within backoff_reset (a slot started again that still crashes
// does), `recovered` says so then, with the watcher's status only: no
// worker lived through the loop.
func (w *Watcher) noteRecovery() {
	st := w.Status()
	switch {
	case st == Flapping:
		w.recovering = 0
	case w.flapping && !w.said && (st == Active || st == Starting):
		w.seq++
		w.recovering = w.seq
		w.host.After(w.policy.Early, Timer{Watcher: w.id, Kind: TimerRecovered, Gen: w.recovering})
	}
	w.flapping, w.said = st == Flapping, false
}

// recovered is TimerRecovered's: the watcher has not flapped since its
// loops ended otherwise.
func (w *Watcher) recovered(gen uint64) {
	if gen == 0 || gen != w.recovering {
		return
	}
	w.recovering = 0
	if st := w.Status(); st == Active || st == Starting {
		w.host.Publish(w.spec.Name, events.KindRecovered, map[string]any{"status": string(st)})
	}
}

// troubled lists, by wid, the slots Reason explains (those that ended
// as configured last): failed, paused or
// exited ones and those in a crash loop. It walks the slots only when
// there are some: Reason is asked on every `status`.
func (w *Watcher) troubled() []*slot {
	if w.holdN[HoldFailed]+w.holdN[HoldPaused]+w.holdN[HoldExited] == 0 && len(w.looping) == 0 {
		return nil
	}
	var out []*slot
	for _, s := range w.slots {
		if s.hold == HoldFailed || s.hold == HoldPaused || s.hold == HoldExited || w.inLoop(s) {
			out = append(out, s)
		}
	}
	// Those that ended as configured last: a one-shot's reason, which
	// words the first maxTroubles, names its failed slot, not wid 1's
	// exit 0.
	fine := func(s *slot) bool { return s.hold == HoldExited && !s.badExit && !w.inLoop(s) }
	sort.Slice(out, func(i, j int) bool {
		if fine(out[i]) != fine(out[j]) {
			return !fine(out[i])
		}
		return out[i].wid < out[j].wid
	})
	return out
}

// ReasonFine reports whether Reason tells only of slots left empty by a
// worker that ended fine (respawn off, or a status no_respawn_exit_codes
// lists): one-shots that did their work, which the console shows as no
// warning. False when Reason is "" or tells of anything else.
func (w *Watcher) ReasonFine() bool {
	if (w.status == Stopped && w.startErr != nil) || w.afterStop != 0 || w.trialReason() != "" || w.reloadErr != nil {
		return false
	}
	tr := w.troubled()
	for _, s := range tr {
		if s.hold != HoldExited || s.badExit || w.inLoop(s) {
			return false
		}
	}
	return len(tr) > 0
}

// maxTroubles is how many troubled slots Reason words in full; it counts
// the others. A pids limit or a bad deploy can trouble dozens of slots at
// once, and their reasons, joined, made one status line of kilobytes.
const maxTroubles = 2

// widList names the wids of slots, at most 8 of them.
func widList(slots []*slot) string {
	var b strings.Builder
	b.WriteString("wid")
	if len(slots) > 1 {
		b.WriteString("s")
	}
	for i, s := range slots {
		switch {
		case i == 8:
			fmt.Fprintf(&b, ", ...")
			return b.String()
		case i > 0:
			b.WriteString(",")
		}
		fmt.Fprintf(&b, " %d", s.wid)
	}
	return b.String()
}

// pauses words how many pauses a slot made before it gave up.
func pauses(n int) string {
	switch n {
	case 0:
		return "its first streak of early deaths (flapping_max_retry = 0)"
	case 1:
		return "1 pause"
	}
	return fmt.Sprintf("%d pauses", n)
}

// trouble says what is wrong with a slot troubled lists.
func (w *Watcher) trouble(s *slot) string {
	left := retryWords(s.until.Sub(w.host.Now()))
	switch s.hold {
	case HoldFailed:
		if s.hookFailed {
			return fmt.Sprintf("wid %d failed: %s; fix the hook or what it checks, then run `start %s` or `reload %s`",
				s.wid, s.lastExit, w.spec.Name, w.spec.Name)
		}
		return fmt.Sprintf("wid %d failed: %s; it gave up after %s; fix the cause, then run `start %s` or `reload %s`",
			s.wid, s.lastExit, pauses(w.spec.FlappingMaxRetry), w.spec.Name, w.spec.Name)
	case HoldPaused:
		if strings.HasPrefix(s.lastExit, spawnErrorPrefix) { // nothing started
			return fmt.Sprintf("wid %d is flapping: %s; %s; retrying %s",
				s.wid, s.lastExit, failedStarts(w.policy.Attempts), left)
		}
		return fmt.Sprintf("wid %d is flapping: %s, %d times in a row soon after starting; retrying %s",
			s.wid, s.lastExit, w.policy.Attempts, left)
	case HoldExited:
		if w.spec.Respawn {
			return fmt.Sprintf("wid %d %s, a status no_respawn_exit_codes lists, so it is not replaced", s.wid, s.lastExit)
		}
		return fmt.Sprintf("wid %d %s and respawn is off", s.wid, s.lastExit)
	}
	why := fmt.Sprintf("wid %d is flapping: %s; %s", s.wid, s.lastExit, deathsOf(s.counters, strings.HasPrefix(s.lastExit, spawnErrorPrefix)))
	switch s.hold {
	case HoldBackoff:
		return fmt.Sprintf("%s; retrying %s", why, left)
	case HoldNone:
		return fmt.Sprintf("%s; its new worker runs, and the slot counts as healthy once one has run for %v", why, w.policy.Early)
	}
	return why + "; retrying now"
}

// deathsOf words a crash history.
func deathsOf(c Counters, unstarted bool) string {
	s := fmt.Sprintf("%d early deaths in a row", c.Streak)
	switch {
	case unstarted && c.Streak == 0:
		s = "failed starts before each pause"
	case unstarted:
		s = failedStarts(c.Streak)
	case c.Streak == 0:
		s = "early deaths before each pause"
	case c.Streak == 1:
		s = "1 early death"
	}
	switch c.Pauses {
	case 0:
		return s
	case 1:
		return s + ", 1 pause so far"
	}
	return fmt.Sprintf("%s, %d pauses so far", s, c.Pauses)
}

// failedStarts words n spawn errors in a row: nothing ran, so they are
// no early deaths.
func failedStarts(n int) string {
	switch n {
	case 0, 1:
		return "its worker could not be started"
	case 2:
		return "its worker could not be started twice in a row"
	}
	return fmt.Sprintf("its worker could not be started %d times in a row", n)
}

// retryWords says when a slot that waits starts again, d from now, in the
// words and units of the RETRY column of `poolctl status NAME` ("now"
// under a second, else "in 4s", "in 1m05s", "in 2h03m"), which truncates:
// a reason that rounded said "4.9s" beside "in 4s".
func retryWords(d time.Duration) string {
	s := int64(d / time.Second)
	switch {
	case s < 1:
		return "now"
	case s < 60:
		return fmt.Sprintf("in %ds", s)
	case s < 3600:
		return fmt.Sprintf("in %dm%02ds", s/60, s%60)
	case s < 86400:
		return fmt.Sprintf("in %dh%02dm", s/3600, s%3600/60)
	}
	return fmt.Sprintf("in %dd%02dh", s/86400, s%86400/3600)
}

// Attempt is what the output of a slot's next worker is told of the
// slot's crash history, when poold starts that worker: poold's log
// shows the worker's lines only where they differ from those of the
// slot's last worker, once the slot is in a crash loop.
type Attempt struct {
	N int // the worker's attempt in its slot: its restarts (status) + 1
	// AfterEarly: the slot's last worker died early, so this one's
	// output is worth remembering for the next attempt's.
	AfterEarly bool
	// Looping: the slot counts as crash-looping (inLoop) once this
	// worker runs: two early deaths in a row, or a pause, before it.
	Looping bool
}

// AttemptOf is the Attempt of the worker poold starts now in wid. Called
// by the host while it takes that worker on, before the watcher records
// it.
func (w *Watcher) AttemptOf(wid int) Attempt {
	s := w.slots[wid]
	if s == nil {
		return Attempt{N: 1}
	}
	at := Attempt{N: s.restarts + 1}
	if s.counters == (Counters{}) || s.pastDeaths {
		return at
	}
	at.AfterEarly = true
	at.Looping = s.counters.Streak >= 2 || s.counters.Pauses > 0
	return at
}
