package watcher

import (
	"cmp"
	"slices"
)

// byAge lists the workers oldest first: by start time, then slot. A stop
// signals them in this order.
//
// Oldest first is the order of the spawner thread's children list, which
// Linux keeps from the first forked: the workers then end roughly in that
// order, and each walk that looks for an ended child (waitid of P_ALL:
// watcher/spawn reaps a burst of exits that way) finds one near the
// list's head. In the map's order, a stop of 10,000 workers had each walk
// pass over thousands of live workers before the first that had ended.
func (w *Watcher) byAge() []*Process {
	ps := make([]*Process, 0, len(w.procs))
	for _, p := range w.procs {
		ps = append(ps, p)
	}
	slices.SortFunc(ps, func(a, b *Process) int {
		if c := a.Started.Compare(b.Started); c != 0 {
			return c
		}
		return cmp.Compare(a.Wid, b.Wid)
	})
	return ps
}
