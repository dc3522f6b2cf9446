package arbiter

import (
	"sync/atomic"

	"github.com/poold/poold/watcher"
)

// The stop what a worker killed by a signal left gets (leftdrain.go) is
// its watcher's stop_signal and graceful_timeout as they are when the
// worker ends, as a stop reads them when it begins (watcher's
// KillProcess): after `poolctl set NAME graceful_timeout 2` a drain took
// the value the worker was spawned with (r63 review L3). The goroutine
// that handles a worker's end must not read the watcher, which is the
// loop's: the loop keeps each watcher's leftStop in an atomic pointer,
// which that goroutine loads, and stores it again whenever a watcher's
// spec changes (every change publishes the watcher's updated event:
// host.Publish).

// leftStopNow is a watcher's leftStop as its spec is now.
type leftStopNow = atomic.Pointer[leftStop]

// leftStopFor, on the loop, is w's leftStopNow, made on first use.
func (a *Arbiter) leftStopFor(w *watcher.Watcher) *leftStopNow {
	if a.leftStops == nil {
		a.leftStops = make(map[*watcher.Watcher]*leftStopNow)
	}
	p := a.leftStops[w]
	if p == nil {
		p = new(leftStopNow)
		s := leftStopOf(w)
		p.Store(&s)
		a.leftStops[w] = p
	}
	return p
}

// renewLeftStops, on the loop once a spec changed, stores each watcher's
// leftStop as its spec is now, and forgets the watchers gone (their
// workers' goroutines keep the last).
func (a *Arbiter) renewLeftStops() {
	for w, p := range a.leftStops {
		if a.byID[w.ID()] != w {
			delete(a.leftStops, w)
			continue
		}
		if s := leftStopOf(w); *p.Load() != s {
			p.Store(&s)
		}
	}
}
