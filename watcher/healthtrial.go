package watcher

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// When every worker of a pool fails its health check at once, the cause
// is most likely one they share (the database they all need is down),
// and replacing them cannot help: the replacements fail too, are stopped
// as never healthy, and the pool empties, then flaps and fails for good.
//
// So poold replaces once-healthy workers that fail their checks one at a
// time: the first is replaced "on trial", and until some worker passes a
// check begun after that, the others that fail are kept running, serving
// what does not need the lost dependency. If the trial's replacement
// passes, the workers were at fault and the next is replaced; if one of
// the others passes, the cause is gone. In a pool where the others are
// well, their next round of checks ends a trial at once. A pool of one
// worker has no others to keep. (Envoy's panic threshold keeps unhealthy
// hosts in rotation on the same reasoning.)

// holdSick reports whether once-healthy p, which just failed
// health_threshold checks in a row, is kept running rather than
// replaced: it is when a trial is out; otherwise p becomes the trial.
func (w *Watcher) holdSick(p *Process, err error) bool {
	if w.trial == 0 {
		w.trial, w.trialWid = w.healthRounds, p.Wid
		return false
	}
	if !p.heldSick {
		p.heldSick = true
		w.log.Warn("worker fails its health check, and no worker passed one since another was replaced for the same: a cause they share? keeping it running until a worker passes",
			"pid", p.Pid, "wid", p.Wid, "failures", p.healthKO, "error", err)
	}
	return true
}

// passed ends a trial once p passed a check begun after it started.
// Workers it held that still fail are replaced as they fail again, one
// at a time.
func (w *Watcher) passed(p *Process) {
	if w.trial == 0 || p.probeOf <= w.trial {
		return
	}
	w.trial = 0
	held := false
	for _, q := range w.procs {
		held = held || q.heldSick
		q.heldSick = false
	}
	if held {
		w.log.Info("a worker passes its health check again; the workers kept running are replaced as they fail", "pid", p.Pid, "wid", p.Wid)
	}
}

// trialReason words the workers a trial holds, for Reason; "" for none.
func (w *Watcher) trialReason() string {
	if w.trial == 0 {
		return ""
	}
	var wids []int
	for _, p := range w.procs {
		if p.heldSick {
			wids = append(wids, p.Wid)
		}
	}
	if len(wids) == 0 {
		return ""
	}
	sort.Ints(wids)
	names := make([]string, len(wids))
	for i, wid := range wids {
		names[i] = strconv.Itoa(wid)
	}
	return fmt.Sprintf("no worker has passed its health check since wid %d was replaced for failing it (a cause they share?): poold keeps wid %s running, failing it too, until a worker passes again", w.trialWid, strings.Join(names, ", "))
}
