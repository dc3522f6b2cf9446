package watcher

// BusyWorkers is how many of the pool's workers said BUSY=N with N > 0 in
// their last report, stopping ones left out: what the next reading of
// the pool counts as busy (Demand).
func (w *Watcher) BusyWorkers() int {
	n := 0
	for _, p := range w.procs {
		if p.busy > 0 && p.State != ProcStopping {
			n++
		}
	}
	return n
}
