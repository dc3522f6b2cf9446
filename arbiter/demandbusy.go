package arbiter

import (
	"slices"
	"time"

	"github.com/poold/poold/watcher"
)

// A pool with scale_busy_target grows on its workers' BUSY reports, which
// reach the loop over the notify socket, not on a listener the monitor
// waits on: it was read every demandSample for good, idle or not. The
// loop now says which pools have a worker busy (setBusy): such a pool
// is read every demandSample, as one whose queue holds connections, and
// one that becomes busy is read at once (not twice within half a
// demandSample).
// So a growth on busy workers comes as soon as before, and an idle pool
// (no worker busy, its queue empty) is read at its quiet pace.

// setBusy tells the monitor whether pool id has a worker busy (BUSY=N,
// N > 0, in its last report); one that becomes busy wakes the monitor.
func (d *demandMon) setBusy(id uint64, on bool) {
	d.mu.Lock()
	if d.busy[id] == on {
		d.mu.Unlock()
		return
	}
	if on {
		if d.busy == nil {
			d.busy, d.rose = map[uint64]bool{}, map[uint64]bool{}
		}
		d.busy[id], d.rose[id] = true, true
	} else {
		delete(d.busy, id)
	}
	d.mu.Unlock()
	if on {
		d.wake()
	}
}

// takeBusy copies the set of busy pools, and takes the set of those
// that became busy since the last call (they may have become idle again
// since, and busy once more, before the monitor looked).
func (d *demandMon) takeBusy() (busy, rose map[uint64]bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.busy) > 0 {
		busy = make(map[uint64]bool, len(d.busy))
		for id := range d.busy {
			busy[id] = true
		}
	}
	if len(d.rose) > 0 {
		rose, d.rose = d.rose, map[uint64]bool{}
	}
	return busy, rose
}

// forgetBusy drops from busy the pools plan no longer holds.
func forgetBusy(busy map[uint64]bool, plan []demandWatch) {
	for id := range busy {
		if !slices.ContainsFunc(plan, func(w demandWatch) bool { return w.id == id }) {
			delete(busy, id)
		}
	}
}

// markBusy gives each pace its pool's busy state; a pool that became
// busy (rose) is read now (it may grow), though not twice within half a
// demandSample for that, and every demandSample while busy (readDue).
func markBusy(paces map[uint64]*pace, busy, rose map[uint64]bool, now time.Time) {
	for id, p := range paces {
		p.busy = busy[id]
		if !rose[id] {
			continue
		}
		p.armed, p.empty = false, time.Time{}
		at := now
		if soon := p.roused.Add(demandSample / 2); soon.After(at) {
			at = soon
		}
		if at.Before(p.next) {
			p.next, p.roused = at, at
		}
	}
}

// busyChanged tells the monitor whether w, an elastic pool growing on
// busy workers, has a worker busy now. The loop calls it after each
// reading, and after a BUSY report that says N > 0: a pool goes busy
// at once, and idle only at a reading, and markBusy reads a pool for
// going busy at most every half demandSample, so a worker that reports
// BUSY=1 and BUSY=0 for each short request has its pool read at most
// three times a demandSample, not at each report.
func (a *Arbiter) busyChanged(w *watcher.Watcher) {
	if a.elastic.mon == nil || !w.Elastic() || w.Spec().ScaleBusyTarget <= 0 {
		return
	}
	a.elastic.mon.setBusy(w.ID(), w.BusyWorkers() > 0)
}
