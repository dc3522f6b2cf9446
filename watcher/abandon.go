package watcher

// Abandon lets go of the watcher's workers for good (rm --nostop: they
// run on, no longer its): it will not act on them again (Start, Stop and
// Kill do nothing), nor hear of their exits or timers, so it would never
// settle. Every WhenSettled and WhenWorkersGone callback runs now, and
// any registered later at once: a command or an ordered stop waiting on
// it learns it is over (Abandoned) instead of waiting for ever.
func (w *Watcher) Abandon() {
	w.abandoned = true
	w.fireWaiters()
}

// Abandoned reports whether Abandon let go of the watcher's workers.
func (w *Watcher) Abandoned() bool { return w.abandoned }
