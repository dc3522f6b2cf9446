package arbiter

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/poold/poold/watcher"
)

// depends_on is systemd's Requires= plus After=: a watcher starts once
// what it depends on is up, and not at all if that is down. A group
// settled is not enough: a dependency whose only worker died on start is
// settled too, its slot waiting in backoff.
//
// A start in order is a job (startJob), as systemd queues a start job: it
// holds the watchers it has yet to start, each registered in a.starts. A
// stop, restart or rm of one of them cancels that part of the job
// (cancelStarts): the job never starts it, and a job left with nothing to
// start ends at once, so that a waited start answers then.

// depState is where a dependency stands for the watchers that need it.
type depState int

const (
	depPending depState = iota // starting, or every worker waits to be started again
	depUp                      // settled, with a ready worker (or none needed: on demand)
	depDown                    // stopped, stopping, or failed with no worker left
)

// stateOf tells where the dependency d stands. One a restart stops and
// starts again is pending, not down, until that start fails (restart.go).
// A one-shot that ran out (watcher.RanOut) is up when every worker ended
// as configured, its work done, as systemd's Type=oneshot unit that
// exited 0 satisfies Requires= and After=; down when one failed. Until
// then it is pending, however ready its workers are: what depends on a
// migration starts after it has ended well, never beside it.
func (a *Arbiter) stateOf(d *watcher.Watcher) depState {
	switch d.Status() {
	case watcher.Stopped, watcher.Stopping:
		if a.isRestarting(d) {
			return depPending
		}
		if d.RanOut() {
			if _, done := d.OneShotEnd(); done {
				return depUp
			}
		}
		return depDown
	}
	if isOneShot(d) && d.FailedEnds() != "" {
		return depDown // a worker failed while others run: so did its work
	}
	if oneShotRuns(d) {
		return depPending
	}
	if d.Settled() && (d.Target() == 0 || ready(d) > 0) {
		return depUp
	}
	if d.Status() == watcher.Failed && len(d.Pids()) == 0 {
		return depDown
	}
	return depPending
}

// ready counts d's ready workers.
func ready(d *watcher.Watcher) int {
	n := 0
	for _, p := range d.Processes() {
		if p.State == watcher.ProcReady {
			n++
		}
	}
	return n
}

// watchersByName maps lower-cased names to the watchers of ws.
func watchersByName(ws []*watcher.Watcher) map[string]*watcher.Watcher {
	m := make(map[string]*watcher.Watcher, len(ws))
	for _, w := range ws {
		m[strings.ToLower(w.Name())] = w
	}
	return m
}

// startJob is one start in order (poold's own start, start, restart, add
// with start, a config reload's additions).
type startJob struct {
	groups [][]*watcher.Watcher      // still to start: bands, in order
	left   map[*watcher.Watcher]bool // not started yet, not canceled
	turn   []*watcher.Watcher        // started in the head band (or the last one), settling
	done   func()                    // called once, when the job ends
	begun  bool                      // the head band has started
	over   bool
}

// pendingStarts are, for each watcher, the jobs that have yet to start
// it. The zero value is ready to use.
type pendingStarts struct {
	jobs map[*watcher.Watcher][]*startJob
}

func (p *pendingStarts) add(w *watcher.Watcher, j *startJob) {
	if p.jobs == nil {
		p.jobs = map[*watcher.Watcher][]*startJob{}
	}
	p.jobs[w] = append(p.jobs[w], j)
}

func (p *pendingStarts) remove(w *watcher.Watcher, j *startJob) {
	js := slices.DeleteFunc(p.jobs[w], func(o *startJob) bool { return o == j })
	if len(js) == 0 {
		delete(p.jobs, w)
		return
	}
	p.jobs[w] = js
}

// startGroups starts groups (bands, see startInOrder) as one job.
func (a *Arbiter) startGroups(groups [][]*watcher.Watcher, done func()) {
	j := &startJob{groups: groups, left: map[*watcher.Watcher]bool{}, done: done}
	for _, g := range groups {
		for _, w := range g {
			j.left[w] = true
			a.starts.add(w, j)
		}
	}
	a.step(j)
}

// step starts the watchers of j's head group (a band of one effective
// priority, see startInOrder) whose dependencies are up or down, skipping
// (NotStarted) those with one down. A watcher whose dependency is still
// pending (starting, waiting to start a worker again after a backoff or a
// flapping pause, or not started by j yet) waits, and the loop looks again
// every settlePoll; a dependency that gives up is down. Only what needs
// the pending dependency waits: the rest of the band starts. The next
// band follows once the whole band is started and settled. Dependencies
// are read at each look: a reload or set may have changed them meanwhile.
func (a *Arbiter) step(j *startJob) {
	if j.over {
		return
	}
	if j.begun {
		if j.groups[0] = a.stillToStart(j, j.groups[0]); len(j.groups[0]) == 0 {
			a.bandDone(j)
			return
		}
	}
	for !j.begun && len(j.groups) > 0 {
		if j.groups[0] = a.stillToStart(j, j.groups[0]); len(j.groups[0]) > 0 {
			break
		}
		j.groups = j.groups[1:]
	}
	if len(j.groups) == 0 || a.stopping {
		a.endJob(j)
		return
	}
	if !j.begun {
		j.turn, j.begun = nil, true
	}
	a.pullForward(j)
	var waiting []*watcher.Watcher
	for _, w := range j.groups[0] {
		if a.mustWait(j, w) {
			waiting = append(waiting, w)
			continue
		}
		delete(j.left, w)
		a.starts.remove(w, j)
		if down := a.downDeps(w); down != "" {
			w.NotStarted(fmt.Errorf("it depends on %s", down))
			continue
		}
		w.Start()
		j.turn = append(j.turn, w)
	}
	if len(waiting) > 0 {
		j.groups[0] = waiting
		time.AfterFunc(settlePoll, func() { a.post(funcMsg{func() { a.step(j) }}) })
		return
	}
	a.bandDone(j)
}

// bandDone moves j past its head band once what it started there has
// settled.
func (a *Arbiter) bandDone(j *startJob) {
	j.groups, j.begun = j.groups[1:], false
	whenAllSettled(j.turn, func() { a.step(j) })
}

// pullForward moves into j's head band the watchers of later bands that
// one of the head band now depends on (a set or a reload since j began,
// on a watcher of a lower priority): waiting for them in their own band,
// which starts only once this one is done, would wait for ever. A
// dependency's effective priority is never below its dependant's, so
// this is the band the change would have given it had it come first.
func (a *Arbiter) pullForward(j *startJob) {
	for i := 0; i < len(j.groups[0]); i++ {
		for _, d := range a.dependencies(j.groups[0][i]) {
			if !j.left[d] || slices.Contains(j.groups[0], d) {
				continue
			}
			for k := 1; k < len(j.groups); k++ {
				j.groups[k] = slices.DeleteFunc(j.groups[k], func(o *watcher.Watcher) bool { return o == d })
			}
			j.groups[0] = append(j.groups[0], d)
		}
	}
}

// mustWait tells whether w, in j's head band, waits for a dependency:
// one j has yet to start, or one that is pending.
func (a *Arbiter) mustWait(j *startJob, w *watcher.Watcher) bool {
	for _, d := range a.dependencies(w) {
		if j.left[d] || a.stateOf(d) == depPending {
			return true
		}
	}
	return false
}

// stillToStart is g without the watchers whose start j no longer owns:
// canceled, or gone from poold (a reload removed it) since.
func (a *Arbiter) stillToStart(j *startJob, g []*watcher.Watcher) []*watcher.Watcher {
	return slices.DeleteFunc(g, func(w *watcher.Watcher) bool {
		if j.left[w] && (a.watchers[strings.ToLower(w.Name())] != w || a.leaving[w]) {
			delete(j.left, w)
			a.starts.remove(w, j)
		}
		return !j.left[w]
	})
}

// endJob ends j: it forgets the starts it had left and calls its done.
func (a *Arbiter) endJob(j *startJob) {
	j.over = true
	for w := range j.left {
		a.starts.remove(w, j)
	}
	j.left = nil
	if j.done != nil {
		j.done()
	}
}

// cancelStarts cancels the starts of ws that jobs have not made yet: a
// stop, restart or rm of them came first. A job left with nothing to
// start ends now, without waiting for what it started to settle.
func (a *Arbiter) cancelStarts(ws []*watcher.Watcher) {
	for _, w := range ws {
		js := a.starts.jobs[w]
		delete(a.starts.jobs, w)
		for _, j := range js {
			delete(j.left, w)
			if len(j.left) == 0 {
				a.endJob(j)
			}
		}
	}
}

// downDeps words w's dependencies that are down, "" if none is.
func (a *Arbiter) downDeps(w *watcher.Watcher) string {
	return a.wordDeps(a.dependencies(w), func(s depState) bool { return s == depDown })
}

// wordDeps words the watchers of ds whose state matches, with their
// status and its reason.
func (a *Arbiter) wordDeps(ds []*watcher.Watcher, match func(depState) bool) string {
	var parts []string
	for _, d := range ds {
		if !match(a.stateOf(d)) {
			continue
		}
		if d.RanOut() { // a one-shot that failed: a start of its dependant runs it again
			parts = append(parts, fmt.Sprintf("watcher %q, a one-shot that ran and failed: %s; a start of what depends on it runs it again first",
				d.Name(), d.Reason()))
			continue
		}
		if oneShotRuns(d) { // "which is active" read as up (rvmerge2)
			parts = append(parts, fmt.Sprintf("watcher %q, a one-shot (respawn = false) still running: this starts once it has ended as configured "+
				"(give %q respawn = true if it is a program that keeps running)", d.Name(), d.Name()))
			continue
		}
		why := a.statusWord(d)
		if r := d.Reason(); r != "" {
			why += ": " + r
		}
		parts = append(parts, fmt.Sprintf("watcher %q, which is %s", d.Name(), why))
	}
	return strings.Join(parts, "; and on ")
}

// bandWaits words what holds j's head band (not w): its watchers still
// waiting for a dependency, and on what, the first two of them.
func (a *Arbiter) bandWaits(j *startJob, w *watcher.Watcher) string {
	var parts []string
	if len(j.groups) > 0 {
		for _, o := range j.groups[0] {
			deps := a.wordDeps(a.dependencies(o), func(s depState) bool { return s != depUp })
			if o == w || deps == "" {
				continue
			}
			if len(parts) == 2 {
				parts = append(parts, "...")
				break
			}
			parts = append(parts, fmt.Sprintf("watcher %q, which waits for %s", o.Name(), deps))
		}
	}
	if len(parts) == 0 {
		return "the watchers of a higher priority in the same start"
	}
	return strings.Join(parts, "; and ")
}

// reasonOf is w's reason in status and snapshots: Reason, and what a
// start that has yet to start w waits for.
func (a *Arbiter) reasonOf(w *watcher.Watcher) string {
	why := w.Reason()
	js := a.starts.jobs[w]
	if len(js) == 0 || w.Status() != watcher.Stopped {
		return why
	}
	wait := "waiting to start: "
	if deps := a.wordDeps(a.dependencies(w), func(s depState) bool { return s != depUp }); deps != "" {
		wait += "it depends on " + deps
	} else {
		// Its dependencies are up: the group started before it (a
		// higher priority, or other dependencies of the same start)
		// has yet to settle.
		// Only those of the band that have yet to settle: the others
		// hold nothing.
		var names []string
		for _, o := range js[0].turn {
			if !o.Settled() {
				names = append(names, fmt.Sprintf("watcher %q, which is %s", o.Name(), a.statusWord(o)))
			}
		}
		if len(names) == 0 {
			wait += "it starts after " + a.bandWaits(js[0], w)
		} else {
			wait += "it starts after " + strings.Join(names, ", ")
		}
	}
	if why != "" {
		return why + "; " + wait
	}
	return wait
}
