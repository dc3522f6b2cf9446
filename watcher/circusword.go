package watcher

// CircusStatus is the watcher's status in Circus's four words (stopped,
// starting, active, stopping), the word circusd would give for the same
// situation; Shown is poold's finer word, which the status reply adds as
// "state". Circus clients test for "active" (`circusctl status web |
// grep active`) or map the four words to colours, so a word of poold's
// own in "status" would call a pool that serves down.
//
//   - flapping is the watcher's own status (active, or starting): poold
//     keeps restarting its slots, paused or not, as circusd keeps
//     respawning a crash loop and calls it active.
//   - failed is stopped when none of its workers runs any more (every
//     slot gave up, or a one-shot ended badly): nothing serves, as when
//     Circus's flapping plugin stops a watcher it gave up on. While some
//     run (healthy slots beside those that gave up) it is the watcher's
//     own status, active or starting: it still serves.
func (w *Watcher) CircusStatus() Status {
	switch st := w.Shown(); st {
	case Flapping:
		return w.status
	case Failed:
		if len(w.procs) == 0 || w.status == Stopped {
			return Stopped
		}
		return w.status
	default:
		return st
	}
}
