package arbiter

import (
	"time"

	"github.com/poold/poold/watcher"
)

// One-shots (respawn = false) stop on their own once their workers have
// ended. A waited command that started one must then say how its work
// ended, not that a stop canceled it: the watcher tells the two apart
// (watcher.RanOut), these word it for the replies.

// stoppedWhy words a watcher found stopped when a waited cmd that meant
// it to run settles: a one-shot whose workers all ended on their own
// (watcher.RanOut) ran, and failed ("" when it ended as configured:
// its work is done, which the ok reply's ended field says); any other
// was stopped by someone (cutShort).
func stoppedWhy(w *watcher.Watcher, cmd string) string {
	if !w.RanOut() {
		return cutShort(w, cmd)
	}
	if why, ok := w.OneShotEnd(); !ok {
		return why
	}
	return ""
}

// appendWhy appends why to parts unless it is "".
func appendWhy(parts []string, why string) []string {
	if why == "" {
		return parts
	}
	return append(parts, why)
}

// endedOf words, for the ok reply of a waited command, how the
// one-shots of ws that ran out ended as configured (watcher.OneShotEnd),
// by name; nil when none did.
func endedOf(ws []*watcher.Watcher) map[string]any {
	var out map[string]any
	for _, w := range ws {
		if !w.RanOut() {
			continue
		}
		if why, ok := w.OneShotEnd(); ok {
			if out == nil {
				out = map[string]any{}
			}
			out[w.Name()] = why
		}
	}
	return out
}

// withEnded adds to the fields of a waited command's ok reply "ended",
// how the one-shots among ws ended as configured (endedOf): poold's
// addition, so that a client hears that the work ran and is done, not
// only that it was started.
func withEnded(fields map[string]any, ws []*watcher.Watcher) map[string]any {
	ended := endedOf(ws)
	if ended == nil {
		return fields
	}
	if fields == nil {
		fields = map[string]any{}
	}
	fields["ended"] = ended
	return fields
}

// oneShotsOf sorts the added watchers a config reload started that ran
// out (watcher.RanOut) by how they ended: failed maps those that failed
// to why, ended those whose work is done; the others are left to
// notStarted.
func oneShotsOf(started []*watcher.Watcher) (failed, ended map[string]string) {
	failed, ended = map[string]string{}, map[string]string{}
	for _, w := range started {
		if !w.RanOut() {
			continue
		}
		if why, ok := w.OneShotEnd(); ok {
			ended[w.Name()] = why
		} else {
			failed[w.Name()] = why
		}
	}
	return failed, ended
}

// isOneShot reports whether w is a one-shot (respawn = false): its work is
// done when its workers have ended, not when they are ready.
func isOneShot(w *watcher.Watcher) bool { return !w.Spec().Respawn }

// oneShotRuns reports whether w is a one-shot still at work: started,
// with a worker left, and none failed yet (a failure is its end already).
func oneShotRuns(w *watcher.Watcher) bool {
	st := w.Status()
	return isOneShot(w) && st != watcher.Stopped && st != watcher.Stopping && len(w.Pids()) > 0 && w.FailedEnds() == ""
}

// whenOneShotsEnd calls fn (on the loop) once no one-shot of ws runs any
// more (oneShotRuns), looking again every settlePoll: a waited start of a
// one-shot answers how its work ended, as systemctl start of a
// Type=oneshot unit returns once it has exited, not 100 ms into its run.
func (a *Arbiter) whenOneShotsEnd(ws []*watcher.Watcher, fn func()) {
	for _, w := range ws {
		if oneShotRuns(w) {
			time.AfterFunc(settlePoll, func() { a.post(funcMsg{func() { a.whenOneShotsEnd(ws, fn) }}) })
			return
		}
	}
	fn()
}
