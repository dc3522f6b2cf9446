package watcher

import (
	"fmt"
	"sort"
	"time"
)

// Hold is why a slot has no worker for now.
type Hold string

// Slot holds. A slot with HoldNone and no process is free.
const (
	HoldNone    Hold = ""
	HoldDue     Hold = "due"     // start again now, in this wid
	HoldBackoff Hold = "backoff" // start again after a delay
	HoldPaused  Hold = "paused"  // flapping: start again after flapping_retry_in
	HoldFailed  Hold = "failed"  // gave up until Start or Reload
	HoldExited  Hold = "exited"  // respawn is off: stays empty
	HoldHook    Hold = "hook"    // its before_spawn hook runs (hook.go)
	HoldLookup  Hold = "lookup"  // its user and group are asked of NSS off the loop (lookup.go)
)

// slot is what a wid remembers between its workers: why it is empty, its
// crash history and its restart count.
type slot struct {
	wid      int
	hold     Hold
	epoch    uint64    // ties the hold's timer to it
	until    time.Time // when a backoff or pause ends
	counters Counters
	restarts int
	lastExit string // how its last worker ended, or why it could not start
	lastPid  int    // the pid of its last worker that ended, 0 if the last could not start
	lastCode string // its last worker's exit reason code (Reason*), for its restart's reason
	// badExit: its last worker ended on its own in a way the config does
	// not declare fine (a status neither 0 nor in no_respawn_exit_codes,
	// a signal, a failed start): an exited slot (respawn = false) that
	// is a failure, as systemd's failed oneshot, not work done.
	badExit bool
	// pastDeaths: its crash history predates a worker poold stopped on
	// purpose there (a scale-down, a reload), so a new worker in it is
	// no respawn after a death, and an elastic pool's growth need not
	// wait for it to outlive the early period. Its next death clears it.
	pastDeaths bool
	// hookPassed: its before_spawn hook said yes; the next spawn goes on.
	hookPassed bool
	// hookFailed: it is failed because its before_spawn hook said no,
	// at once, not after flapping pauses.
	hookFailed bool
	// lacked: its last start failed for want of pids, memory or fds
	// (sharedLack), which lackLog words for the whole watcher.
	lacked bool
	// diedInRoll: its old worker ended on its own while a rollout ran,
	// which passes its count to no one if the rollout replaces it, and
	// is a restart if the rollout is abandoned (countRollDeaths).
	diedInRoll bool
}

// SlotInfo is one slot as the control protocol reports it.
type SlotInfo struct {
	Wid      int       `json:"wid"`
	State    string    `json:"state"` // starting, ready, stopping (a worker), or backoff, paused, failed, exited
	Pid      int       `json:"pid"`   // 0 when the slot has no worker
	Restarts int       `json:"restarts"`
	LastExit string    `json:"last_exit"`
	RetryAt  time.Time `json:"-"` // when a backoff or pause ends; zero otherwise
	KillAt   time.Time `json:"-"` // when its worker, being stopped, is SIGKILLed if still there; zero otherwise
	// Failed: an exited slot whose worker ended badly (see slot.badExit);
	// readiness counts it as a failure.
	Failed bool `json:"-"`
	// Recycle: a ready worker marked to be replaced (max_age, health,
	// limit) that still serves, and whether its replacement waits for a
	// wid that workers still stopping hold; "" otherwise.
	Recycle string `json:"recycle,omitempty"`
}

// slotFor returns wid's slot, creating it.
func (w *Watcher) slotFor(wid int) *slot {
	s, ok := w.slots[wid]
	if !ok {
		s = &slot{wid: wid}
		w.slots[wid] = s
	}
	return s
}

// held reports whether wid's slot keeps its seat in the target without a
// worker (waiting, failed or exited).
func (w *Watcher) held(wid int) bool {
	s, ok := w.slots[wid]
	return ok && s.hold != HoldNone
}

// holds lists the wids of held slots, highest first.
func (w *Watcher) holds() []int {
	var out []int
	for wid, s := range w.slots {
		if s.hold != HoldNone {
			out = append(out, wid)
		}
	}
	sort.Sort(sort.Reverse(sort.IntSlice(out)))
	return out
}

// addProc records p as a live process of the watcher.
func (w *Watcher) addProc(p *Process) {
	if old, ok := w.procs[p.Pid]; ok {
		// The kernel reused the pid of a process whose exit is still
		// on its way (its cgroup being emptied): it has ended, and its
		// exit comes through EndedEarlier.
		w.earlier = append(w.earlier, old)
	}
	w.procs[p.Pid] = p
	w.count(p, 1)
	w.widProcs[p.Wid]++
}

// removeProc forgets p, which has ended.
func (w *Watcher) removeProc(p *Process) {
	if w.procs[p.Pid] == p {
		delete(w.procs, p.Pid)
	}
	w.rollGone(p)
	w.count(p, -1)
	if w.widProcs[p.Wid]--; w.widProcs[p.Wid] <= 0 {
		delete(w.widProcs, p.Wid)
		w.freed(p.Wid)
	}
}

// freed notes that wid may be free again: fill looks from there.
func (w *Watcher) freed(wid int) {
	if wid < w.freeFrom {
		w.freeFrom = wid
	}
}

// taken reports whether wid is held by a live process (draining
// included) or by a slot hold.
func (w *Watcher) taken(wid int) bool {
	if w.widProcs[wid] > 0 {
		return true
	}
	s, ok := w.slots[wid]
	return ok && s.hold != HoldNone
}

// setHold puts wid's slot on hold and bumps its epoch, so a timer armed
// for an earlier hold is stale.
func (w *Watcher) setHold(s *slot, h Hold, until time.Time) {
	w.seq++
	if s.hold != HoldNone {
		w.holdN[s.hold]--
		if h == HoldNone {
			w.freed(s.wid)
		}
	}
	if h != HoldNone {
		w.holdN[h]++
	}
	if h == HoldDue {
		w.due[s.wid] = true
	} else if s.hold == HoldDue {
		delete(w.due, s.wid)
	}
	s.hold, s.epoch, s.until = h, w.seq, until
	s.hookFailed = false
}

// heldCount is how many slots keep their seat without a worker: the
// watcher's census, status and settling read it on every event, so it is
// counted as holds change, not by a walk of every slot (10,000 at
// 10,000 workers).
func (w *Watcher) heldCount() int {
	n := 0
	for _, c := range w.holdN {
		n += c
	}
	return n
}

// setCounters sets a slot's crash history and keeps the set of the wids
// that have one (looping), which Status and Reason read instead of a
// walk of every slot.
func (w *Watcher) setCounters(s *slot, c Counters) {
	s.counters = c
	if c == (Counters{}) {
		delete(w.looping, s.wid)
	} else {
		w.looping[s.wid] = true
	}
}

// clearExited releases the slots whose workers ended with respawn off
// (an exit status of no_respawn_exit_codes, max_age): a reload starts
// every worker again, as circusd's graceful reload spawns numprocesses.
func (w *Watcher) clearExited() {
	for _, s := range w.slots {
		if s.hold == HoldExited {
			w.setHold(s, HoldNone, time.Time{})
		}
	}
}

// clearHolds releases paused and failed slots (the user said try again);
// with all, also backoff and exited ones and every crash history.
func (w *Watcher) clearHolds(all bool) {
	if all {
		w.owed = nil // a stop or a start starts the counts again
	}
	for wid, s := range w.slots {
		switch {
		case all:
			if s.hold != HoldNone {
				w.holdN[s.hold]--
				w.freed(wid)
			}
			delete(w.due, wid)
			delete(w.looping, wid)
			delete(w.slots, wid)
		case s.hold == HoldPaused || s.hold == HoldFailed:
			w.setCounters(s, Counters{})
			w.setHold(s, HoldNone, time.Time{})
		}
	}
}

// Slots lists every slot that has a worker or a hold, by wid.
func (w *Watcher) Slots() []SlotInfo {
	byWid := map[int]*SlotInfo{}
	for _, p := range w.Processes() {
		if _, dup := byWid[p.Wid]; dup {
			continue // cannot happen: a wid has one live process
		}
		byWid[p.Wid] = &SlotInfo{Wid: p.Wid, State: p.State, Pid: p.Pid, Restarts: p.Restarts, KillAt: p.KillAt()}
		if p.Recycle && p.State == ProcReady {
			byWid[p.Wid].Recycle = w.recycleNote(p.recycleWhy)
		}
	}
	for wid, s := range w.slots {
		in := byWid[wid]
		if in == nil {
			if s.hold == HoldNone {
				continue
			}
			in = &SlotInfo{Wid: wid, State: string(s.hold), Restarts: s.restarts}
			if s.hold == HoldDue {
				in.State = string(HoldBackoff)
			}
			if s.hold == HoldBackoff || s.hold == HoldPaused {
				in.RetryAt = s.until
			}
			byWid[wid] = in
		}
		in.LastExit = s.lastExit
		in.Failed = s.hold == HoldExited && s.badExit
	}
	out := make([]SlotInfo, 0, len(byWid))
	for _, in := range byWid {
		out = append(out, *in)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Wid < out[j].Wid })
	return out
}

// recycleNote says why a ready worker is being replaced and, when its
// replacement cannot start yet, why not: "max_age; its replacement waits
// for a free wid (2 workers still stopping)".
func (w *Watcher) recycleNote(why string) string {
	if why == "" {
		why = "recycle"
	}
	if n := w.stoppingHoldSeats(); n > 0 {
		why += fmt.Sprintf("; its replacement waits for a free wid (%d workers still stopping)", n)
	}
	return why
}

// stoppingHoldSeats is, when a replacement is due (fewer current workers
// than numprocesses) but numprocesses + max_surge workers run already
// (draining ones included: see room), how many of them are workers still
// stopping; else 0.
func (w *Watcher) stoppingHoldSeats() int {
	if w.status != Active && w.status != Starting {
		return 0
	}
	c := w.census()
	if w.spec.NumProcesses-c.cur-c.held <= 0 || w.room() > 0 {
		return 0
	}
	n := 0
	for _, q := range w.procs {
		if q.State == ProcStopping {
			n++
		}
	}
	return n
}
