package arbiter

import (
	"slices"

	"github.com/poold/poold/watcher"
)

// A restart stops its watchers (and their running dependants first),
// then starts them again as one start job. Meanwhile a start that waits
// for one of them keeps waiting: to it the watcher is restarting, not
// down (stateOf), until the restart's start of it fails or the restart
// ends. A stop or rm of one of them during the stop phase takes it out
// of the restart, as a stop cancels a start job: it stays stopped.

// restartJob is a restart in its stop phase.
type restartJob struct {
	again []*watcher.Watcher // to start again once stopped
}

// restart stops again, then starts it (with what it depends on); done,
// if not nil, is called once the start job ends.
func (a *Arbiter) restart(again []*watcher.Watcher, done func()) {
	r := &restartJob{again: again}
	a.markRestarting(again, 1)
	stopped := false
	a.stopInOrder(again, func() { // cancels other restarts of them, not r
		stopped = true
		delete(a.restarts, r)
		a.startInOrder(a.withDeps(r.again), func() {
			a.markRestarting(r.again, -1)
			if done != nil {
				done()
			}
		})
	})
	if !stopped {
		if a.restarts == nil {
			a.restarts = map[*restartJob]bool{}
		}
		a.restarts[r] = true
	}
}

// cancelRestarts takes ws out of the restarts still stopping them.
func (a *Arbiter) cancelRestarts(ws []*watcher.Watcher) {
	for r := range a.restarts {
		r.again = slices.DeleteFunc(r.again, func(w *watcher.Watcher) bool {
			if !slices.Contains(ws, w) {
				return false
			}
			a.markRestarting([]*watcher.Watcher{w}, -1)
			return true
		})
	}
}

// markRestarting counts a restart of ws in (by 1) or out (by -1).
func (a *Arbiter) markRestarting(ws []*watcher.Watcher, by int) {
	if a.restarting == nil {
		a.restarting = map[*watcher.Watcher]int{}
	}
	for _, w := range ws {
		if a.restarting[w] += by; a.restarting[w] <= 0 {
			delete(a.restarting, w)
		}
	}
}

// isRestarting tells whether a restart will start w again: it stops or
// waits for its turn, and its start has not failed since.
func (a *Arbiter) isRestarting(w *watcher.Watcher) bool {
	return a.restarting[w] > 0 && w.StartError() == nil
}

// statusWord is w's status as a waiting start words it.
func (a *Arbiter) statusWord(w *watcher.Watcher) string {
	if (w.Status() == watcher.Stopped || w.Status() == watcher.Stopping) && a.isRestarting(w) {
		return "restarting"
	}
	return string(w.Status())
}
